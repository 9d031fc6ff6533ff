/*
 * pigeon_native: ChaCha20-Poly1305 over NNCP's 128 KiB blocks, with
 * caller-supplied output buffers and batches that run on libuv's thread
 * pool. node:crypto allocates (and zero-fills) a fresh buffer for every
 * block it opens or seals; at a gigabyte per packet that allocation, not
 * the cipher, is what the receive path spends its time on. The cipher is
 * OpenSSL's, the copy inside the running node binary (its symbols are
 * resolved at load time), so no library is added.
 *
 * Layout of a batch: N blocks back to back. Ciphertext block i is
 * BODY_i || TAG_i (body then its 16-byte tag), plaintext block i is BODY_i.
 * Every block in a batch has the same body length (the caller passes whole
 * blocks; the short last block of a packet goes through the one-block call).
 * Block i uses nonce counter+i (big-endian in the last 8 of 12 bytes). The
 * one-block calls also take the 12-byte nonce itself in place of the
 * counter (Noise's nonces are little-endian).
 *
 * Exports (all buffers are Uint8Array views; lengths are checked here):
 *   open(key, counter, ad, ct, pt) -> bool
 *   seal(key, counter, ad, pt, ct) -> undefined
 *   openBatch(key, counter, ad, ct, pt, blockLen, n, cb(err, verified))
 *   sealBatch(key, counter, ad, pt, ct, blockLen, n, cb(err))
 *   pwriteAll(fd, buf, position, piece, writeback, cb(errno, written))
 *   linkFd(fd, dst) -> errno (0: linked)
 *   pipe(size) -> [readFd, writeFd] | errno
 * openBatch stops at the first block whose tag fails and reports how many
 * verified before it; the plaintext of that block and later ones is
 * undefined (the caller never hands it out).
 */
#define _GNU_SOURCE /* sync_file_range, AT_EMPTY_PATH */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <node_api.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY_LEN 32
#define TAG_LEN 16
#define NONCE_LEN 12

static EVP_CIPHER *cipher_fetched = NULL;

static const EVP_CIPHER *chacha(void) {
  if (cipher_fetched == NULL) cipher_fetched = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
  return cipher_fetched != NULL ? cipher_fetched : EVP_chacha20_poly1305();
}

static void nonce_for(uint8_t nonce[NONCE_LEN], uint64_t counter) {
  memset(nonce, 0, 4);
  for (int i = 0; i < 8; i++) nonce[11 - i] = (uint8_t)(counter >> (8 * i));
}

/*
 * One block on a context whose key is set: seal (enc) `in` into `out` and
 * append the tag, or open `in` (body then tag) into `out` and check the tag.
 * `len` is the body length. Returns 1 on success, 0 when the tag does not
 * verify or OpenSSL fails.
 */
static int crypt_one(EVP_CIPHER_CTX *ctx, int enc, const uint8_t nonce[NONCE_LEN], const uint8_t *ad, size_t ad_len,
                     const uint8_t *in, size_t len, uint8_t *out) {
  int outl = 0;
  if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, enc) != 1) return 0;
  if (ad_len > 0 && EVP_CipherUpdate(ctx, NULL, &outl, ad, (int)ad_len) != 1) return 0;
  if (len > 0 && EVP_CipherUpdate(ctx, out, &outl, in, (int)len) != 1) return 0;
  if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, (void *)(in + len)) != 1) return 0;
  if (EVP_CipherFinal_ex(ctx, out + len, &outl) != 1) return 0;
  return !enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, out + len) == 1;
}

static EVP_CIPHER_CTX *new_ctx(const uint8_t *key, int enc) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL) return NULL;
  if (EVP_CipherInit_ex(ctx, chacha(), NULL, key, NULL, enc) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, NONCE_LEN, NULL) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

/* ---- argument helpers ---- */

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  napi_typedarray_type type;
  size_t length, offset;
  void *ptr;
  napi_value ab;
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, &ab, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  *data = (uint8_t *)ptr;
  *len = length;
  return 1;
}

static int get_u64(napi_env env, napi_value v, uint64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return 0;
  if (!(d >= 0) || d > 9007199254740991.0 || d != (double)(uint64_t)d) return 0;
  *out = (uint64_t)d;
  return 1;
}

typedef struct {
  uint8_t *key, *ad, *src, *dst;
  size_t key_len, ad_len, src_len, dst_len;
  uint64_t counter;
  uint8_t nonce[NONCE_LEN]; /* from the counter (big-endian), or given as 12 bytes */
} common_args;

/* key, counter, ad, src, dst */
static int parse_common(napi_env env, napi_value *argv, common_args *a) {
  if (!get_bytes(env, argv[0], &a->key, &a->key_len) || a->key_len != KEY_LEN) return 0;
  uint8_t *nonce;
  size_t nonce_len;
  if (get_bytes(env, argv[1], &nonce, &nonce_len)) {
    if (nonce_len != NONCE_LEN) return 0;
    memcpy(a->nonce, nonce, NONCE_LEN);
    a->counter = 0;
  } else {
    if (!get_u64(env, argv[1], &a->counter)) return 0;
    nonce_for(a->nonce, a->counter);
  }
  if (!get_bytes(env, argv[2], &a->ad, &a->ad_len)) return 0;
  if (!get_bytes(env, argv[3], &a->src, &a->src_len)) return 0;
  if (!get_bytes(env, argv[4], &a->dst, &a->dst_len)) return 0;
  return 1;
}

/* open(key, counter, ad, ct, pt): pt gets ct.length - 16 bytes. */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result;
  common_args a;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5 || !parse_common(env, argv, &a)) return throw_type(env, "open(key, counter, ad, ct, pt): bad arguments");
  if (a.src_len < TAG_LEN || a.dst_len < a.src_len - TAG_LEN || a.src_len - TAG_LEN > INT32_MAX) return throw_type(env, "open: buffer sizes do not fit");
  EVP_CIPHER_CTX *ctx = new_ctx(a.key, 0);
  if (ctx == NULL) {
    napi_throw_error(env, NULL, "open: OpenSSL cipher context failed");
    return NULL;
  }
  int ok = crypt_one(ctx, 0, a.nonce, a.ad, a.ad_len, a.src, a.src_len - TAG_LEN, a.dst);
  EVP_CIPHER_CTX_free(ctx);
  napi_get_boolean(env, ok != 0, &result);
  return result;
}

/* seal(key, counter, ad, pt, ct): ct gets pt.length + 16 bytes. */
static napi_value js_seal(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  common_args a;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5 || !parse_common(env, argv, &a)) return throw_type(env, "seal(key, counter, ad, pt, ct): bad arguments");
  if (a.dst_len < a.src_len + TAG_LEN || a.src_len > INT32_MAX) return throw_type(env, "seal: buffer sizes do not fit");
  EVP_CIPHER_CTX *ctx = new_ctx(a.key, 1);
  int ok = ctx != NULL && crypt_one(ctx, 1, a.nonce, a.ad, a.ad_len, a.src, a.src_len, a.dst);
  if (ctx != NULL) EVP_CIPHER_CTX_free(ctx);
  if (!ok) napi_throw_error(env, NULL, "seal: OpenSSL failed");
  return NULL;
}

/* ---- batches on the thread pool ---- */

typedef struct {
  napi_async_work work;
  napi_ref refs[4]; /* key, ad, src, dst: kept alive while the work runs */
  napi_ref cb;
  uint8_t key[KEY_LEN];
  uint8_t *ad, *src, *dst;
  size_t ad_len, block_len, n;
  uint64_t counter;
  int enc;
  size_t done; /* blocks that verified (open) or were sealed */
  int failed;  /* OpenSSL itself failed */
} batch;

static void batch_execute(napi_env env, void *data) {
  (void)env;
  batch *b = (batch *)data;
  EVP_CIPHER_CTX *ctx = new_ctx(b->key, b->enc);
  if (ctx == NULL) {
    b->failed = 1;
    return;
  }
  for (size_t i = 0; i < b->n; i++) {
    const size_t ct_off = i * (b->block_len + TAG_LEN), pt_off = i * b->block_len;
    uint8_t nonce[NONCE_LEN];
    nonce_for(nonce, b->counter + i);
    int ok = crypt_one(ctx, b->enc, nonce, b->ad, b->ad_len, b->src + (b->enc ? pt_off : ct_off), b->block_len,
                       b->dst + (b->enc ? ct_off : pt_off));
    if (!ok) {
      if (b->enc) b->failed = 1;
      break;
    }
    b->done++;
  }
  EVP_CIPHER_CTX_free(ctx);
}

static void batch_complete(napi_env env, napi_status status, void *data) {
  batch *b = (batch *)data;
  napi_value cb, undef, args[2];
  napi_get_undefined(env, &undef);
  napi_get_reference_value(env, b->cb, &cb);
  if (status != napi_ok || b->failed) {
    napi_value msg;
    napi_create_string_utf8(env, b->failed ? "OpenSSL ChaCha20-Poly1305 failed" : "batch cancelled", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &args[0]);
  } else {
    args[0] = undef;
  }
  napi_create_double(env, (double)b->done, &args[1]);
  for (int i = 0; i < 4; i++) napi_delete_reference(env, b->refs[i]);
  napi_delete_reference(env, b->cb);
  napi_delete_async_work(env, b->work);
  OPENSSL_cleanse(b->key, KEY_LEN);
  free(b);
  napi_call_function(env, undef, cb, 2, args, NULL);
}

/* (key, counter, ad, src, dst, blockLen, n, cb) */
static napi_value start_batch(napi_env env, napi_callback_info info, int enc) {
  size_t argc = 8;
  napi_value argv[8], name;
  common_args a;
  uint32_t block_len, n;
  napi_valuetype cbt;
  napi_valuetype counter_type;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 8 || napi_typeof(env, argv[1], &counter_type) != napi_ok || counter_type != napi_number || !parse_common(env, argv, &a) || napi_get_value_uint32(env, argv[5], &block_len) != napi_ok ||
      napi_get_value_uint32(env, argv[6], &n) != napi_ok || napi_typeof(env, argv[7], &cbt) != napi_ok || cbt != napi_function)
    return throw_type(env, "batch(key, counter, ad, src, dst, blockLen, n, cb): bad arguments");
  const size_t ct_need = (size_t)n * ((size_t)block_len + TAG_LEN), pt_need = (size_t)n * block_len;
  if (block_len > INT32_MAX || (enc ? (a.src_len < pt_need || a.dst_len < ct_need) : (a.src_len < ct_need || a.dst_len < pt_need)))
    return throw_type(env, "batch: buffer sizes do not fit");
  batch *b = (batch *)calloc(1, sizeof(batch));
  if (b == NULL) {
    napi_throw_error(env, NULL, "batch: out of memory");
    return NULL;
  }
  memcpy(b->key, a.key, KEY_LEN);
  b->ad = a.ad;
  b->ad_len = a.ad_len;
  b->src = a.src;
  b->dst = a.dst;
  b->block_len = block_len;
  b->n = n;
  b->counter = a.counter;
  b->enc = enc;
  napi_create_reference(env, argv[0], 1, &b->refs[0]);
  napi_create_reference(env, argv[2], 1, &b->refs[1]);
  napi_create_reference(env, argv[3], 1, &b->refs[2]);
  napi_create_reference(env, argv[4], 1, &b->refs[3]);
  napi_create_reference(env, argv[7], 1, &b->cb);
  napi_create_string_utf8(env, enc ? "pigeon.sealBatch" : "pigeon.openBatch", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, batch_execute, batch_complete, b, &b->work);
  napi_queue_async_work(env, b->work);
  return NULL;
}

static napi_value js_open_batch(napi_env env, napi_callback_info info) { return start_batch(env, info, 0); }
static napi_value js_seal_batch(napi_env env, napi_callback_info info) { return start_batch(env, info, 1); }

/* ---- writing a buffer in pieces, on the thread pool ----
 * One job writes the whole buffer with pwrite(2) calls of at most `piece`
 * bytes. The page cache sizes its folios by the write's length; on virtual
 * machines that hand free memory back to the host, large folios come from
 * returned (cold) memory and cost a host fault per page, while small ones
 * come from per-CPU lists of recently freed pages (see src/spool/atomic.ts
 * for the figures). One job instead of one per piece keeps the event loop
 * out of it. */

typedef struct {
  napi_async_work work;
  napi_ref buf_ref, cb;
  int fd;
  uint8_t *data;
  size_t len, piece, written;
  int64_t pos;
  int err;
  int writeback;
} pwrite_job;

static void pwrite_execute(napi_env env, void *data) {
  (void)env;
  pwrite_job *j = (pwrite_job *)data;
  while (j->written < j->len) {
    size_t n = j->len - j->written;
    if (n > j->piece) n = j->piece;
    ssize_t r = pwrite(j->fd, j->data + j->written, n, (off_t)(j->pos + (int64_t)j->written));
    if (r < 0) {
      if (errno == EINTR) continue;
      j->err = errno;
      return;
    }
    if (r == 0) {
      j->err = EIO;
      return;
    }
    j->written += (size_t)r;
  }
#ifdef __linux__
  /* Start the disk writing these pages now, without waiting for it: the
   * fsync that seals the file then finds most of them clean. */
  if (j->writeback && j->len > 0) sync_file_range(j->fd, (off_t)j->pos, (off_t)j->len, SYNC_FILE_RANGE_WRITE);
#endif
}

static void pwrite_complete(napi_env env, napi_status status, void *data) {
  pwrite_job *j = (pwrite_job *)data;
  napi_value cb, undef, args[2];
  napi_get_undefined(env, &undef);
  napi_get_reference_value(env, j->cb, &cb);
  napi_create_int32(env, status != napi_ok ? ECANCELED : j->err, &args[0]);
  napi_create_double(env, (double)j->written, &args[1]);
  napi_delete_reference(env, j->buf_ref);
  napi_delete_reference(env, j->cb);
  napi_delete_async_work(env, j->work);
  free(j);
  napi_call_function(env, undef, cb, 2, args, NULL);
}

/* pwriteAll(fd, buf, position, piece, writeback, cb(errno, written)) */
static napi_value js_pwrite_all(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], name;
  int32_t fd;
  bool writeback;
  uint8_t *data;
  size_t len;
  uint64_t pos;
  uint32_t piece;
  napi_valuetype cbt;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || !get_bytes(env, argv[1], &data, &len) ||
      !get_u64(env, argv[2], &pos) || napi_get_value_uint32(env, argv[3], &piece) != napi_ok || piece == 0 ||
      napi_get_value_bool(env, argv[4], &writeback) != napi_ok || napi_typeof(env, argv[5], &cbt) != napi_ok ||
      cbt != napi_function)
    return throw_type(env, "pwriteAll(fd, buf, position, piece, writeback, cb): bad arguments");
  pwrite_job *j = (pwrite_job *)calloc(1, sizeof(pwrite_job));
  if (j == NULL) {
    napi_throw_error(env, NULL, "pwriteAll: out of memory");
    return NULL;
  }
  j->fd = fd;
  j->data = data;
  j->len = len;
  j->pos = (int64_t)pos;
  j->piece = piece;
  j->writeback = writeback;
  napi_create_reference(env, argv[1], 1, &j->buf_ref);
  napi_create_reference(env, argv[5], 1, &j->cb);
  napi_create_string_utf8(env, "pigeon.pwriteAll", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, pwrite_execute, pwrite_complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return NULL;
}

/*
 * linkFd(fd, dst): give the file open as fd the new name dst (a hard link
 * to that very inode, whatever names it has now). linkat with AT_EMPTY_PATH
 * needs CAP_DAC_READ_SEARCH; without it, the same through /proc/self/fd
 * with AT_SYMLINK_FOLLOW. Returns 0 or the errno (ENOSYS off Linux).
 */
static napi_value js_link_fd(napi_env env, napi_callback_info info) {
  size_t argc = 2, n = 0;
  napi_value argv[2], result;
  int32_t fd;
  char dst[4096];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_get_value_string_utf8(env, argv[1], dst, sizeof dst, &n) != napi_ok || n == 0)
    return throw_type(env, "linkFd(fd, dst): bad arguments");
  int err = 0;
  if (n >= sizeof dst - 1) {
    err = ENAMETOOLONG; /* perhaps cut short: never link under a shorter name */
  } else {
#ifdef __linux__
    if (linkat(fd, "", AT_FDCWD, dst, AT_EMPTY_PATH) != 0) {
      err = errno;
      if (err == ENOENT || err == EPERM) {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", (int)fd);
        err = linkat(AT_FDCWD, proc, AT_FDCWD, dst, AT_SYMLINK_FOLLOW) == 0 ? 0 : errno;
      }
    }
#else
    err = ENOSYS;
#endif
  }
  napi_create_int32(env, err, &result);
  return result;
}

/*
 * pipe(size): a pipe for a child's stdin, both ends close-on-exec (the child
 * gets the read end through its stdio, never the write end, so it sees the
 * end of its input when we close ours), its capacity raised to `size` where
 * the kernel allows it (F_SETPIPE_SZ, Linux; best effort: the default
 * 64 KiB pipe still works, with more wake-ups). Node cannot make a pipe of
 * a chosen size, nor change one's size. Returns [readFd, writeFd], or the
 * errno.
 */
static napi_value js_pipe(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, v;
  int32_t size;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &size) != napi_ok || size < 0) return throw_type(env, "pipe(size): bad arguments");
  int fds[2];
#ifdef __linux__
  if (pipe2(fds, O_CLOEXEC) != 0) {
#else
  if (pipe(fds) != 0 || fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0) {
#endif
    napi_create_int32(env, errno, &result);
    return result;
  }
#ifdef F_SETPIPE_SZ
  if (size > 0) (void)fcntl(fds[1], F_SETPIPE_SZ, size);
#endif
  napi_create_array_with_length(env, 2, &result);
  napi_create_int32(env, fds[0], &v);
  napi_set_element(env, result, 0, v);
  napi_create_int32(env, fds[1], &v);
  napi_set_element(env, result, 1, v);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seal", NULL, js_seal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openBatch", NULL, js_open_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sealBatch", NULL, js_seal_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pwriteAll", NULL, js_pwrite_all, NULL, NULL, NULL, napi_enumerable, NULL},
      {"linkFd", NULL, js_link_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pipe", NULL, js_pipe, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
