// zlib (Debian zlib1g-dev, pkg-config "zlib"): deflateInit2 is a macro, so one static-inline
// function does the whole gzip (RFC 1952) of a buffer.
#include <string.h>
#include <zlib.h>

/// Writes the gzip of in[0..<inlen] to out (capacity *outlen); sets *outlen. 0 on success.
static inline int postamt_gzip(const unsigned char *in, size_t inlen, unsigned char *out, size_t *outlen) {
    z_stream s;
    memset(&s, 0, sizeof s);
    // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
    if (deflateInit2(&s, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    s.next_in = (Bytef *)in;
    s.avail_in = (uInt)inlen;
    s.next_out = out;
    s.avail_out = (uInt)*outlen;
    int r = deflate(&s, Z_FINISH);
    *outlen = s.total_out;
    deflateEnd(&s);
    return r == Z_STREAM_END ? 0 : -1;
}

/// A raw DEFLATE stream (RFC 1951, no zlib or gzip wrapper: windowBits -15), as IMAP COMPRESS
/// (RFC 4978) wants. The z_stream must stay at one address until deflateEnd.
static inline int postamt_deflate_init_raw(z_stream *s, int level) {
    memset(s, 0, sizeof *s);
    return deflateInit2(s, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
}

/// The inflating side of postamt_deflate_init_raw.
static inline int postamt_inflate_init_raw(z_stream *s) {
    memset(s, 0, sizeof *s);
    return inflateInit2(s, -15);
}
