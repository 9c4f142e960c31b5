import Driver
import Foundation

// Line-buffered output, so a training log written to a file shows progress as it happens.
setvbuf(stdout, nil, _IOLBF, 0)
Mnemo.main()
