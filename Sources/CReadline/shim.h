// GNU readline and its history library, for the REPL (Debian: libreadline-dev).
// readline.h uses FILE without including stdio.h itself.
#include <stdio.h>
#include <readline/readline.h>
#include <readline/history.h>
