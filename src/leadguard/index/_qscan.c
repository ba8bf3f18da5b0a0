/* Exact 5-bit scan kernel for leadguard.index.compressed (loaded with ctypes).
 *
 * Codes: 5 bits a dimension, c = 2*(u - 8) + l in [-16, 15] with u in [0, 15] and l in {0, 1},
 * stored in blocks of 16 vectors. A block holds, for each pair h of 4-dimension groups
 * (8 dimensions), 64 bytes of u: byte [v][j] = u(v, 8h+j) | u(v, 8h+4+j) << 4; then, for
 * each group g, 8 bytes of l: bit 4v+j = l(v, 4g+j). With an int8 query p,
 * 2*sum(u*p) + sum(l*p) - 16*sum(p) = sum(c*p) = a, exactly, in int32 (80 bytes a 128-d
 * vector).
 *
 * For every live vector the caller's bound brackets the exact score:
 *     t*a - d <= exact <= t*a + d,     d = qn*err[v] + dconst
 * One pass over the codes keeps the k best lower bounds (their k-th, L, can only be at or
 * below the final k-th best exact score) and buffers every vector whose upper bound reaches
 * L. Then, without reading the codes again, the vectors of the k best lower bounds are
 * scored exactly (fp32 x fp32 summed in fp64, from the stored fp32 rows): the k-th best of
 * those exact scores, E, is a floor close to the final one, and only the buffered vectors
 * whose upper bound reaches E are scored exactly. Floors are shared by the threads of one
 * search (each is the k-th best of a subset of the gallery, so never above the final k-th
 * best). Every vector scored exactly at or above the floor (minus EPS) is returned; the
 * caller re-scores those and takes the top k. Rows held in memory (a map of the file) are
 * prefetched a few entries ahead of their exact score: they lie scattered over gigabytes.
 */
#include <stdint.h>
#include <stddef.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define SLACK 2e-6f /* covers fp32 rounding of t*a and qn*err (both below 1e-6) */
#ifndef PREFETCH
#define PREFETCH 8 /* blocks ahead */
#endif
#define MAX_DIM 4096 /* rows read from the file: at most this many dimensions */
#define EPS 1e-9    /* covers fp64 summation-order differences with the caller (~1e-15) */

typedef struct { double *v; int64_t *row; int n, k; } heap_t; /* min-heap of the k best */

static void heap_push(heap_t *h, double s, int64_t row) {
    int i;
    if (h->n < h->k) {
        i = h->n++;
        while (i > 0) {
            int p = (i - 1) / 2;
            if (h->v[p] <= s) break;
            h->v[i] = h->v[p]; h->row[i] = h->row[p]; i = p;
        }
    } else if (s > h->v[0]) {
        i = 0;
        for (;;) {
            int l = 2 * i + 1, r = l + 1, m = l;
            if (l >= h->n) break;
            if (r < h->n && h->v[r] < h->v[l]) m = r;
            if (h->v[m] >= s) break;
            h->v[i] = h->v[m]; h->row[i] = h->row[m]; i = m;
        }
    } else {
        return;
    }
    h->v[i] = s; h->row[i] = row;
}

static inline double heap_floor(const heap_t *h) { return h->n == h->k ? h->v[0] : -INFINITY; }

typedef struct { int64_t row; float ub, lb; } entry_t;

typedef struct {
    heap_t lower;          /* the k best lower bounds (rows kept) */
    heap_t exact;          /* the k best exact scores */
    double *shared;        /* the search's shared floor (k-th best of some subset) */
    const uint8_t *dead;
    const float *vecs, *q; /* the fp32 rows in memory, or NULL: read them from fd */
    int dim, fd;
    long offset;           /* where row 0 starts in fd */
    entry_t *buf;          /* vectors whose upper bound reached the floor while scanning */
    long nbuf, capbuf;
    int failed;            /* -1: out of memory, -2: a row could not be read */
    int64_t *rows;
    double *scores;
    long cap, n, checked;
} sel_t;

/* Raise the shared floor to `mine` if it is higher; return the higher of the two. */
static double share(double *shared, double mine) {
    double other;
    __atomic_load(shared, &other, __ATOMIC_RELAXED);
    while (mine > other) {
        if (__atomic_compare_exchange(shared, &other, &mine, 1, __ATOMIC_RELAXED,
                                      __ATOMIC_RELAXED))
            return mine;
    }
    return other;
}

static double scan_floor(sel_t *s) { return share(s->shared, heap_floor(&s->lower)) - EPS; }

static void buffer(sel_t *s, int64_t row, float ub, float lb) {
    if (s->nbuf == s->capbuf) {
        long cap = s->capbuf ? 2 * s->capbuf : 4096;
        entry_t *grown = realloc(s->buf, (size_t)cap * sizeof(entry_t));
        if (!grown) { s->failed = -1; return; }
        s->buf = grown; s->capbuf = cap;
    }
    s->buf[s->nbuf++] = (entry_t){row, ub, lb};
}

/* One vector seen by the scan: its bounds, already computed, against the floor. */
static inline void offer(sel_t *s, int64_t row, float ub, float lb, double floor) {
    if ((double)ub < floor || s->dead[row]) return;
    buffer(s, row, ub, lb);
    if ((double)lb > heap_floor(&s->lower)) heap_push(&s->lower, lb, row);
}

/* fp32 x fp32 products (exact in fp64) summed in fp64 in 8 running sums: the order differs
 * from the caller's by ~1e-15, far inside EPS. */
static double dot(const float *x, const float *q, int dim) {
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int d = 0;
    for (; d + 8 <= dim; d += 8)
        for (int j = 0; j < 8; j++) a[j] += (double)x[d + j] * (double)q[d + j];
    for (; d < dim; d++) a[0] += (double)x[d] * (double)q[d];
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* Ask for a row held in memory ahead of its exact score (rows are scattered: each one a
 * cache miss that would otherwise be waited for in turn). */
static inline void prefetch_row(const sel_t *s, int64_t row) {
    if (!s->vecs) return;
    const char *x = (const char *)(s->vecs + (size_t)row * s->dim);
    for (size_t o = 0; o < (size_t)s->dim * sizeof(float); o += 64) __builtin_prefetch(x + o);
}

#define AHEAD 16 /* buffered entries ahead of the one scored */

/* Score one row exactly; keep it as a candidate when it reaches the floor. */
static void check(sel_t *s, int64_t row) {
    float tmp[MAX_DIM];
    const float *x;
    if (s->vecs) {
        x = s->vecs + (size_t)row * s->dim;
    } else {
        size_t bytes = (size_t)s->dim * sizeof(float);
        if (pread(s->fd, tmp, bytes, s->offset + (off_t)(row * (int64_t)bytes)) != (ssize_t)bytes) {
            s->failed = -2;
            return;
        }
        x = tmp;
    }
    double acc = dot(x, s->q, s->dim);
    s->checked++;
    double floor = share(s->shared, heap_floor(&s->exact)) - EPS;
    if (acc < floor) return;
    if (s->n < s->cap) { s->rows[s->n] = row; s->scores[s->n] = acc; }
    s->n++;
    heap_push(&s->exact, acc, row);
}

/* After the scan: the k best lower bounds first (a floor near the final one), then every
 * other buffered vector whose upper bound reaches the floor. */
static void refine(sel_t *s) {
    double lfloor = heap_floor(&s->lower);
    for (long i = 0; i < s->nbuf && !s->failed; i++) {
        if (i + AHEAD < s->nbuf && (double)s->buf[i + AHEAD].lb >= lfloor)
            prefetch_row(s, s->buf[i + AHEAD].row);
        if ((double)s->buf[i].lb >= lfloor) { check(s, s->buf[i].row); s->buf[i].row = -1; }
    }
    double floor = share(s->shared, heap_floor(&s->exact)) - EPS;
    for (long i = 0; i < s->nbuf && !s->failed; i++) {
        if (i + AHEAD < s->nbuf && s->buf[i + AHEAD].row >= 0
            && (double)s->buf[i + AHEAD].ub >= floor)
            prefetch_row(s, s->buf[i + AHEAD].row);
        if (s->buf[i].row >= 0 && (double)s->buf[i].ub >= floor) {
            check(s, s->buf[i].row);
            floor = share(s->shared, heap_floor(&s->exact)) - EPS;
        }
    }
}

static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023, bits;
    if (e == 0) {
        float f = (float)m * (1.0f / 16777216.0f); /* subnormal: m * 2^-24 */
        return sign ? -f : f;
    }
    if (e == 31) bits = sign | 0x7f800000u | (m << 13);
    else bits = sign | ((e + 112) << 23) | (m << 13);
    float f;
    __builtin_memcpy(&f, &bits, 4);
    return f;
}

static void block_generic(const uint8_t *blk, const int8_t *p, int pairs, int32_t bias,
                          int32_t *out) {
    int32_t acc[16] = {0};
    const uint8_t *bits = blk + (size_t)pairs * 64;
    for (int g = 0; g < 2 * pairs; g++) {
        const uint8_t *nib = blk + (size_t)(g / 2) * 64, *lb = bits + (size_t)g * 8;
        const int8_t *pg = p + 4 * g;
        for (int v = 0; v < 16; v++)
            for (int j = 0; j < 4; j++) {
                int i = 4 * v + j;
                int u = g % 2 ? nib[i] >> 4 : nib[i] & 15, l = (lb[i >> 3] >> (i & 7)) & 1;
                acc[v] += (2 * u + l) * pg[j];
            }
    }
    for (int v = 0; v < 16; v++) out[v] = acc[v] - bias;
}

static void scan_generic(const uint8_t *codes, long b0, long b1, const int8_t *p, int pairs,
                         int32_t bias, const uint16_t *err, float qn, float t, float dconst,
                         sel_t *s) {
    for (long b = b0; b < b1; b++) {
        int32_t a[16];
        block_generic(codes + (size_t)b * pairs * 80, p, pairs, bias, a);
        double floor = scan_floor(s);
        for (int v = 0; v < 16; v++) {
            long row = b * 16 + v;
            float d = qn * half_to_float(err[row]) + dconst + SLACK, ta = t * (float)a[v];
            offer(s, row, ta + d, ta - d, floor);
        }
    }
}

/* The floor in fp32, rounded down so that no vector that reaches it is missed. */
static float down(double floor) {
    return floor == -INFINITY ? -INFINITY : nextafterf((float)floor, -INFINITY);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The vectors of block b whose upper bound reached the floor (the bits of m), with their
 * bounds u and l, offered to the selection; returns the floor after them. */
static double offer_block(sel_t *s, long b, unsigned m, const float *u, const float *l,
                          double floor) {
    while (m) {
        int v = __builtin_ctz(m);
        m &= m - 1;
        offer(s, b * 16 + v, u[v], l[v], floor);
    }
    return scan_floor(s);
}

__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void scan_vnni(const uint8_t *codes, long b0, long b1, const int8_t *p, int pairs,
                      int32_t bias, const uint16_t *err, float qn, float t, float dconst,
                      sel_t *s) {
    __m512i qb[64];
    for (int g = 0; g < 2 * pairs; g++) {
        int32_t w;
        __builtin_memcpy(&w, p + 4 * g, 4);
        qb[g] = _mm512_set1_epi32(w);
    }
    const __m512i vbias = _mm512_set1_epi32(bias), low = _mm512_set1_epi8(15);
    const __m512i one = _mm512_set1_epi8(1);
    const __m512 vt = _mm512_set1_ps(t), vqn = _mm512_set1_ps(qn);
    const __m512 vc = _mm512_set1_ps(dconst + SLACK);
    double floor = scan_floor(s);
    __m512 vfl = _mm512_set1_ps(down(floor));
    const size_t ahead = (size_t)PREFETCH * pairs * 80;
    for (long b = b0; b < b1; b++) {
        const uint8_t *blk = codes + (size_t)b * pairs * 80;
        const uint8_t *bits = blk + (size_t)pairs * 64;
        __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
        for (int h = 0; h < pairs; h++) {
            /* the block PREFETCH blocks ahead, 80 bytes a step: every line of it */
            _mm_prefetch((const char *)(blk + ahead + h * 80), _MM_HINT_T0);
            __m512i x = _mm512_loadu_si512(blk + h * 64);
            __m512i lo = _mm512_and_si512(x, low);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(x, 4), low);
            uint64_t w0, w1;
            __builtin_memcpy(&w0, bits + 16 * h, 8);
            __builtin_memcpy(&w1, bits + 16 * h + 8, 8);
            __mmask64 m0 = _cvtu64_mask64(w0), m1 = _cvtu64_mask64(w1);
            /* 2u + l, in [0, 31], one byte a dimension */
            lo = _mm512_mask_add_epi8(_mm512_add_epi8(lo, lo), m0, _mm512_add_epi8(lo, lo), one);
            hi = _mm512_mask_add_epi8(_mm512_add_epi8(hi, hi), m1, _mm512_add_epi8(hi, hi), one);
            a0 = _mm512_dpbusd_epi32(a0, lo, qb[2 * h]);
            a1 = _mm512_dpbusd_epi32(a1, hi, qb[2 * h + 1]);
        }
        __m512i a = _mm512_add_epi32(a0, a1);
        a = _mm512_sub_epi32(a, vbias);
        __m512 e = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(err + b * 16)));
        __m512 ta = _mm512_mul_ps(vt, _mm512_cvtepi32_ps(a));
        __m512 d = _mm512_fmadd_ps(vqn, e, vc);
        __m512 ub = _mm512_add_ps(ta, d);
        __mmask16 m = _mm512_cmp_ps_mask(ub, vfl, _CMP_GE_OQ);
        if (m) {
            float u[16], l[16];
            _mm512_storeu_ps(u, ub);
            _mm512_storeu_ps(l, _mm512_sub_ps(ta, d));
            floor = offer_block(s, b, m, u, l, floor);
        } else if ((b & 63) == 0) {
            floor = scan_floor(s); /* pick up other threads' floors now and then */
        } else {
            continue;
        }
        vfl = _mm512_set1_ps(down(floor));
    }
}
#endif

#if defined(__x86_64__) && defined(__GNUC__)
/* 32 bits (one per byte position) as 32 bytes of 0 or 1: byte i gets bit i. */
__attribute__((target("avx2")))
static inline __m256i bit_bytes(uint32_t w, __m256i spread, __m256i select, __m256i one) {
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int32_t)w), spread);
    return _mm256_min_epu8(_mm256_and_si256(b, select), one);
}

/* The same sums as scan_vnni with AVX2 (no VNNI): each half block of 8 vectors, 4 bytes a
 * vector and group, multiplied by maddubs (u8 x s8 summed in pairs to s16: |2u+l| <= 31
 * and |p| <= 128, so a pair of groups stays within 4 * 31 * 128 < 32767) and widened to
 * int32 by madd. */
__attribute__((target("avx2,fma,f16c")))
static void scan_avx2(const uint8_t *codes, long b0, long b1, const int8_t *p, int pairs,
                      int32_t bias, const uint16_t *err, float qn, float t, float dconst,
                      sel_t *s) {
    __m256i qb[64];
    for (int g = 0; g < 2 * pairs; g++) {
        int32_t w;
        __builtin_memcpy(&w, p + 4 * g, 4);
        qb[g] = _mm256_set1_epi32(w);
    }
    const __m256i low = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    const __m256i ones16 = _mm256_set1_epi16(1), vbias = _mm256_set1_epi32(bias);
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i select = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    const __m256 vt = _mm256_set1_ps(t), vqn = _mm256_set1_ps(qn);
    const __m256 vc = _mm256_set1_ps(dconst + SLACK);
    double floor = scan_floor(s);
    __m256 vfl = _mm256_set1_ps(down(floor));
    const size_t ahead = (size_t)PREFETCH * pairs * 80;
    for (long b = b0; b < b1; b++) {
        const uint8_t *blk = codes + (size_t)b * pairs * 80;
        const uint8_t *bits = blk + (size_t)pairs * 64;
        __m256i a[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int h = 0; h < pairs; h++) {
            _mm_prefetch((const char *)(blk + ahead + h * 80), _MM_HINT_T0);
            uint64_t w0, w1;
            __builtin_memcpy(&w0, bits + 16 * h, 8);
            __builtin_memcpy(&w1, bits + 16 * h + 8, 8);
            for (int half = 0; half < 2; half++) {
                __m256i x = _mm256_loadu_si256((const __m256i *)(blk + h * 64 + 32 * half));
                __m256i lo = _mm256_and_si256(x, low);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low);
                /* 2u + l, in [0, 31], one byte a dimension */
                lo = _mm256_or_si256(_mm256_add_epi8(lo, lo),
                                     bit_bytes((uint32_t)(w0 >> (32 * half)), spread, select, one));
                hi = _mm256_or_si256(_mm256_add_epi8(hi, hi),
                                     bit_bytes((uint32_t)(w1 >> (32 * half)), spread, select, one));
                __m256i sum = _mm256_add_epi16(_mm256_maddubs_epi16(lo, qb[2 * h]),
                                               _mm256_maddubs_epi16(hi, qb[2 * h + 1]));
                a[half] = _mm256_add_epi32(a[half], _mm256_madd_epi16(sum, ones16));
            }
        }
        unsigned m = 0;
        float u[16], l[16];
        for (int half = 0; half < 2; half++) {
            __m256i ai = _mm256_sub_epi32(a[half], vbias);
            __m256 e = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(err + b * 16 + 8 * half)));
            __m256 ta = _mm256_mul_ps(vt, _mm256_cvtepi32_ps(ai));
            __m256 d = _mm256_fmadd_ps(vqn, e, vc);
            __m256 ub = _mm256_add_ps(ta, d);
            unsigned mh = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(ub, vfl, _CMP_GE_OQ));
            if (mh) {
                _mm256_storeu_ps(u + 8 * half, ub);
                _mm256_storeu_ps(l + 8 * half, _mm256_sub_ps(ta, d));
            }
            m |= mh << (8 * half);
        }
        if (m) {
            floor = offer_block(s, b, m, u, l, floor);
        } else if ((b & 63) == 0) {
            floor = scan_floor(s); /* pick up other threads' floors now and then */
        } else {
            continue;
        }
        vfl = _mm256_set1_ps(down(floor));
    }
}
#endif

/* The scan paths this CPU runs: 1 portable C, 2 AVX2 (with FMA and F16C), 4 AVX-512 VNNI. */
int lg_kernels(void) {
    int have = 1;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
        && __builtin_cpu_supports("f16c"))
        have |= 2;
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) have |= 4;
#endif
    return have;
}

/* Scan blocks [b0, b1) of one segment. Returns how many candidates there are (rows/scores
 * hold the first cap of them), -1 when out of memory, -2 when a stored row could not be
 * read; *checked gets how many vectors were scored exactly. Rows come from vecs, or when
 * that is NULL from the file fd (row r at offset + r * dim * 4). heapbuf: room for 2k doubles,
 * heaprows: for 2k int64. force: 0 the fastest path this CPU runs, 1 portable C, 2 the
 * fastest without VNNI (AVX2 where the CPU has it). */
long lg_scan5(const uint8_t *codes, long b0, long b1, const int8_t *p, int pairs,
              const uint16_t *err, float qn, float t, float dconst, const uint8_t *dead,
              const float *vecs, int fd, long offset, int dim, const float *q,
              double *heapbuf, int64_t *heaprows,
              int k, double *shared, int64_t *rows, double *scores, long cap, long *checked,
              int force) {
    int32_t bias = 0;
    for (int d = 0; d < 8 * pairs; d++) bias += 16 * p[d];
    if (!vecs && dim > MAX_DIM) return -2;
    sel_t s = {{heapbuf, heaprows, 0, k}, {heapbuf + k, heaprows + k, 0, k}, shared, dead,
               vecs, q, dim, fd, offset, NULL, 0, 0, 0, rows, scores, cap, 0, 0};
    int done = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    int have = lg_kernels();
    if (force == 0 && pairs <= 32 && (have & 4)) {
        scan_vnni(codes, b0, b1, p, pairs, bias, err, qn, t, dconst, &s);
        done = 1;
    } else if (force != 1 && pairs <= 32 && (have & 2)) {
        scan_avx2(codes, b0, b1, p, pairs, bias, err, qn, t, dconst, &s);
        done = 1;
    }
#endif
    if (!done) scan_generic(codes, b0, b1, p, pairs, bias, err, qn, t, dconst, &s);
    if (!s.failed) refine(&s);
    free(s.buf);
    *checked = s.checked;
    return s.failed ? s.failed : s.n;
}
