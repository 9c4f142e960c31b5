// zlib, found at run time (libz.so.1 is on every Linux system; its headers
// need not be), so that building Mnemo needs no system library beyond
// readline. The prototypes and the stream below are zlib's stable ABI.
#include <dlfcn.h>
#include <stddef.h>
#include "csupport.h"

typedef struct {
    const unsigned char *next_in; unsigned avail_in; unsigned long total_in;
    unsigned char *next_out; unsigned avail_out; unsigned long total_out;
    const char *msg; void *state; void *zalloc; void *zfree; void *opaque;
    int data_type; unsigned long adler; unsigned long reserved;
} z_stream_abi;

static void *zlib(const char *symbol) {
    static void *handle;
    static int tried;
    if (!tried) {
        tried = 1;
        handle = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!handle) handle = dlopen("libz.so", RTLD_NOW | RTLD_LOCAL);
    }
    return handle ? dlsym(handle, symbol) : NULL;
}

int mnemo_zlib_available(void) { return zlib("crc32") != NULL && zlib("inflateInit2_") != NULL; }

unsigned long mnemo_crc32(unsigned long crc, const unsigned char *bytes, unsigned long count) {
    unsigned long (*f)(unsigned long, const unsigned char *, unsigned) = zlib("crc32");
    if (!f) return 0;
    while (count > 0) {
        unsigned part = count > (1u << 30) ? (1u << 30) : (unsigned)count;
        crc = f(crc, bytes, part);
        bytes += part;
        count -= part;
    }
    return crc;
}

unsigned long mnemo_compress_bound(unsigned long count) {
    unsigned long (*f)(unsigned long) = zlib("compressBound");
    return f ? f(count) : count + count / 1000 + 64;
}

int mnemo_compress(unsigned char *out, unsigned long *outCount, const unsigned char *in, unsigned long inCount, int level) {
    int (*f)(unsigned char *, unsigned long *, const unsigned char *, unsigned long, int) = zlib("compress2");
    return f ? f(out, outCount, in, inCount, level) : -6;
}

int mnemo_uncompress(unsigned char *out, unsigned long *outCount, const unsigned char *in, unsigned long inCount) {
    int (*f)(unsigned char *, unsigned long *, const unsigned char *, unsigned long) = zlib("uncompress");
    return f ? f(out, outCount, in, inCount) : -6;
}

int mnemo_inflate_raw(const unsigned char *in, unsigned long inCount, unsigned char *out, unsigned long outCount, unsigned long *produced) {
    int (*init)(z_stream_abi *, int, const char *, int) = zlib("inflateInit2_");
    int (*step)(z_stream_abi *, int) = zlib("inflate");
    int (*end)(z_stream_abi *) = zlib("inflateEnd");
    const char *(*version)(void) = zlib("zlibVersion");
    if (!init || !step || !end || !version) return -6;
    if (inCount > 0xFFFFFFFFul || outCount > 0xFFFFFFFFul) return -5;
    z_stream_abi s = {0};
    int status = init(&s, -15, version(), (int)sizeof s);
    if (status != 0) return status;
    s.next_in = in; s.avail_in = (unsigned)inCount;
    s.next_out = out; s.avail_out = (unsigned)outCount;
    status = step(&s, 4);  // Z_FINISH
    *produced = s.total_out;
    end(&s);
    return status;  // 1 (Z_STREAM_END) when the whole stream was read
}
