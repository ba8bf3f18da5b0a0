/* Exact int8 scan kernel for leadguard.index.compressed (loaded with ctypes).
 *
 * Codes are stored in blocks of 16 vectors: for each group of 4 dimensions, the 4 bytes of
 * each of the 16 vectors (64 bytes), i.e. block[g][v][j] = code of vector v, dimension 4g+j.
 * Codes are unsigned (c + 128); the query is signed int8, so sum(u*p) - 128*sum(p) = sum(c*p)
 * exactly in int32. Integer arithmetic: the approximate score is exact, only the
 * quantisation error needs bounding (done in Python).
 */
#include <stdint.h>
#include <stddef.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef struct { int32_t *v; int n, k; } heap_t;

static void heap_push(heap_t *h, int32_t s) {
    if (h->n < h->k) {
        int i = h->n++;
        h->v[i] = s;
        while (i > 0) {
            int p = (i - 1) / 2;
            if (h->v[p] <= h->v[i]) break;
            int32_t t = h->v[p]; h->v[p] = h->v[i]; h->v[i] = t; i = p;
        }
    } else if (s > h->v[0]) {
        int i = 0;
        h->v[0] = s;
        for (;;) {
            int l = 2 * i + 1, r = l + 1, m = i;
            if (l < h->n && h->v[l] < h->v[m]) m = l;
            if (r < h->n && h->v[r] < h->v[m]) m = r;
            if (m == i) break;
            int32_t t = h->v[m]; h->v[m] = h->v[i]; h->v[i] = t; i = m;
        }
    }
}

static void block_generic(const uint8_t *blk, const int8_t *q, int groups, int32_t bias,
                          int32_t *out) {
    int32_t acc[16] = {0};
    for (int g = 0; g < groups; g++) {
        const uint8_t *b = blk + (size_t)g * 64;
        const int8_t *p = q + 4 * g;
        for (int v = 0; v < 16; v++)
            acc[v] += b[4 * v] * p[0] + b[4 * v + 1] * p[1] + b[4 * v + 2] * p[2]
                      + b[4 * v + 3] * p[3];
    }
    for (int v = 0; v < 16; v++) out[v] = acc[v] - bias;
}

typedef struct {
    heap_t h;
    int32_t margin;
    const uint8_t *dead;
    int64_t *rows;
    int32_t *scores;
    long cap, n;
} sel_t;

/* Offer one row: it joins the candidates when it can still reach the k-th best lower bound
 * (score >= current k-th largest - margin; the current k-th largest only grows, so this keeps
 * a superset of what the final threshold keeps). */
static inline void offer(sel_t *s, long row, int32_t a) {
    if (s->dead[row]) return;
    if (s->h.n == s->h.k && (int64_t)a < (int64_t)s->h.v[0] - s->margin) return;
    heap_push(&s->h, a);
    if (s->n < s->cap) { s->rows[s->n] = row; s->scores[s->n] = a; }
    s->n++;
}

static inline int64_t floor_of(sel_t *s) {
    return s->h.n < s->h.k ? INT64_MIN : (int64_t)s->h.v[0] - s->margin;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void scan_vnni(const uint8_t *codes, long b0, long b1, const int8_t *q, int groups,
                      int32_t bias, sel_t *s) {
    __m512i qb[64];
    for (int g = 0; g < groups; g++) {
        int32_t w;
        __builtin_memcpy(&w, q + 4 * g, 4);
        qb[g] = _mm512_set1_epi32(w);
    }
    const __m512i vbias = _mm512_set1_epi32(bias);
    long b = b0;
    for (; b + 1 < b1; b += 2) {
        const uint8_t *p0 = codes + (size_t)b * groups * 64;
        const uint8_t *p1 = p0 + (size_t)groups * 64;
        __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
        __m512i c0 = _mm512_setzero_si512(), c1 = _mm512_setzero_si512();
        int g = 0;
        for (; g + 1 < groups; g += 2) {
            a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512(p0 + g * 64), qb[g]);
            c0 = _mm512_dpbusd_epi32(c0, _mm512_loadu_si512(p0 + g * 64 + 64), qb[g + 1]);
            a1 = _mm512_dpbusd_epi32(a1, _mm512_loadu_si512(p1 + g * 64), qb[g]);
            c1 = _mm512_dpbusd_epi32(c1, _mm512_loadu_si512(p1 + g * 64 + 64), qb[g + 1]);
        }
        for (; g < groups; g++) {
            a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512(p0 + g * 64), qb[g]);
            a1 = _mm512_dpbusd_epi32(a1, _mm512_loadu_si512(p1 + g * 64), qb[g]);
        }
        a0 = _mm512_sub_epi32(_mm512_add_epi32(a0, c0), vbias);
        a1 = _mm512_sub_epi32(_mm512_add_epi32(a1, c1), vbias);
        int64_t f = floor_of(s);
        int32_t fl = f < INT32_MIN ? INT32_MIN : (f > INT32_MAX ? INT32_MAX : (int32_t)f);
        __m512i vf = _mm512_set1_epi32(fl);
        __mmask16 m0 = _mm512_cmpge_epi32_mask(a0, vf), m1 = _mm512_cmpge_epi32_mask(a1, vf);
        if (m0 | m1) {
            int32_t tmp[32];
            _mm512_storeu_si512(tmp, a0);
            _mm512_storeu_si512(tmp + 16, a1);
            for (int v = 0; v < 32; v++) offer(s, b * 16 + v, tmp[v]);
        }
    }
    for (; b < b1; b++) {
        int32_t tmp[16];
        block_generic(codes + (size_t)b * groups * 64, q, groups, bias, tmp);
        for (int v = 0; v < 16; v++) offer(s, b * 16 + v, tmp[v]);
    }
}
#endif

/* Scan blocks [b0, b1) of one segment with the int8 query q. Collects in topk the k largest
 * scores of live rows (unsorted; their number goes to *nheap) and, in rows/scores, every live
 * row whose score is at least (k-th largest - margin) at the time it is seen. Returns how many
 * candidates there are in all; if above cap, only the first cap were written. */
long lg_scan(const uint8_t *codes, long b0, long b1, const int8_t *q, int groups,
             const uint8_t *dead, int32_t *topk, int k, int *nheap, int32_t margin,
             int64_t *rows, int32_t *scores, long cap, int force_generic) {
    int32_t bias = 0;
    for (int d = 0; d < 4 * groups; d++) bias += 128 * q[d];
    sel_t s = {{topk, 0, k}, margin, dead, rows, scores, cap, 0};
#if defined(__x86_64__) && defined(__GNUC__)
    if (!force_generic && groups <= 64 && __builtin_cpu_supports("avx512vnni")
        && __builtin_cpu_supports("avx512bw")) {
        scan_vnni(codes, b0, b1, q, groups, bias, &s);
        *nheap = s.h.n;
        return s.n;
    }
#endif
    for (long b = b0; b < b1; b++) {
        int32_t tmp[16];
        block_generic(codes + (size_t)b * groups * 64, q, groups, bias, tmp);
        for (int v = 0; v < 16; v++) offer(&s, b * 16 + v, tmp[v]);
    }
    *nheap = s.h.n;
    return s.n;
}
