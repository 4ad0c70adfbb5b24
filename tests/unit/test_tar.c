/* Unit tests for core/tar.c: packing into a file (pn_tar_pack_fd) gives the very bytes
 * of packing into memory; unpacking from a file (pn_tar_unpack_fd) reads it a chunk at
 * a time, and files that cross the chunks' boundaries come back byte-exact with their
 * modes; both unpackers refuse the same things with the same messages (paths that climb
 * out or are absolute, more bytes or entries than the limits), and neither writes a
 * link. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/tar.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *root;

static int setup(void **state) { return pn_fs_mkdtemp("pinion-test-tar", &root) < 0 ? -1 : 0; }

static int teardown(void **state) {
  pn_fs_remove_tree(root);
  pn_free(root);
  return 0;
}

static char *path_in(const char *relative) { return pn_fs_join(root, relative); }

/* `length` pseudo-random bytes from `seed` (xorshift), written to root/relative. */
static unsigned char *write_random(const char *relative, size_t length, uint32_t seed) {
  unsigned char *bytes = pn_malloc(length ? length : 1);
  assert_non_null(bytes);
  for (size_t i = 0; i < length; i++) {
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    bytes[i] = (unsigned char)seed;
  }
  char *path = path_in(relative);
  assert_int_equal(pn_fs_write(path, bytes, length), 0);
  pn_free(path);
  return bytes;
}

static void assert_file_equals(const char *relative, const unsigned char *bytes, size_t length) {
  char *path = path_in(relative);
  char *data = NULL;
  size_t got = 0;
  assert_int_equal(pn_fs_read(path, (size_t)1 << 30, &data, &got), 0);
  assert_int_equal(got, length);
  if (length)
    assert_memory_equal(data, bytes, length);
  pn_free(data);
  pn_free(path);
}

static int open_in(const char *relative, int flags) {
  char *path = path_in(relative);
  int fd = open(path, flags | O_CLOEXEC, 0600);
  pn_free(path);
  assert_true(fd >= 0);
  return fd;
}

/* Files of sizes around the chunk (PN_TAR_CHUNK): one of several chunks and an odd
 * remainder, one a byte short of a chunk, one of a byte, an empty one, an executable,
 * in nested folders: the tar's headers and paddings put every file's start and end at a
 * different place within the reader's chunks. */
static void test_a_file_packed_and_unpacked_in_chunks_comes_back_byte_exact(void **state) {
  char *src = path_in("src"), *weights = path_in("src/weights"),
       *deep = path_in("src/weights/deep");
  assert_int_equal(mkdir(src, 0755), 0);
  assert_int_equal(mkdir(weights, 0755), 0);
  assert_int_equal(mkdir(deep, 0755), 0);
  pn_free(weights);
  pn_free(deep);
  const size_t big = 3 * PN_TAR_CHUNK + 12345, short_of = PN_TAR_CHUNK - 1;
  unsigned char *a = write_random("src/weights/a.bin", big, 1);
  unsigned char *b = write_random("src/weights/deep/b.bin", short_of, 2);
  unsigned char *c = write_random("src/c.txt", 1, 3);
  unsigned char *d = write_random("src/empty", 0, 4);
  unsigned char *e = write_random("src/run.sh", 700, 5);
  char *script = path_in("src/run.sh");
  assert_int_equal(chmod(script, 0755), 0);
  pn_free(script);

  int tar = open_in("bundle.tar", O_RDWR | O_CREAT | O_TRUNC);
  char *error = NULL;
  assert_int_equal(pn_tar_pack_fd(src, NULL, NULL, NULL, 0, tar, &error), 0);
  assert_null(error);
  struct stat info;
  assert_int_equal(fstat(tar, &info), 0);
  assert_true((size_t)info.st_size > big + short_of + 701);
  assert_true((size_t)info.st_size > 4 * PN_TAR_CHUNK);

  /* The same bytes as packing into memory: one packer, two sinks. */
  pn_buf memory;
  pn_buf_init(&memory, (size_t)1 << 30);
  assert_int_equal(pn_tar_pack(src, NULL, NULL, NULL, 0, &memory, &error), 0);
  assert_int_equal(memory.length, (size_t)info.st_size);
  char *file_bytes = NULL;
  size_t file_length = 0;
  char *tar_path = path_in("bundle.tar");
  assert_int_equal(pn_fs_read(tar_path, (size_t)1 << 30, &file_bytes, &file_length), 0);
  assert_memory_equal(file_bytes, memory.data, memory.length);
  pn_free(file_bytes);
  pn_free(tar_path);
  pn_buf_free(&memory);

  assert_int_equal(lseek(tar, 0, SEEK_SET), 0);
  char *dest = path_in("dest");
  assert_int_equal(mkdir(dest, 0755), 0);
  pn_tar_limits limits = {(size_t)1 << 30, 100};
  assert_int_equal(pn_tar_unpack_fd(tar, dest, &limits, &error), 0);
  assert_null(error);
  close(tar);
  assert_file_equals("dest/weights/a.bin", a, big);
  assert_file_equals("dest/weights/deep/b.bin", b, short_of);
  assert_file_equals("dest/c.txt", c, 1);
  assert_file_equals("dest/empty", d, 0);
  assert_file_equals("dest/run.sh", e, 700);
  char *unpacked_script = path_in("dest/run.sh");
  assert_int_equal(stat(unpacked_script, &info), 0);
  assert_int_equal(info.st_mode & 0777, 0755);
  pn_free(unpacked_script);
  char *unpacked_data = path_in("dest/c.txt");
  assert_int_equal(stat(unpacked_data, &info), 0);
  assert_int_equal(info.st_mode & 0777, 0644);
  pn_free(unpacked_data);

  /* The limits, counted the same way from a file: the content is big + short_of + 701
   * bytes, the entries 7 (5 files and 2 folders). */
  assert_int_equal(pn_fs_remove_tree(dest), 0);
  assert_int_equal(mkdir(dest, 0755), 0);
  tar = open_in("bundle.tar", O_RDONLY);
  pn_tar_limits tight = {big, 100};
  assert_int_equal(pn_tar_unpack_fd(tar, dest, &tight, &error), PN_ETOOBIG);
  char *expected = pn_strfmt("it unpacks to more than %zu bytes", big);
  assert_string_equal(error, expected);
  pn_free(expected);
  pn_free(error);
  close(tar);
  tar = open_in("bundle.tar", O_RDONLY);
  pn_tar_limits few = {(size_t)1 << 30, 6};
  assert_int_equal(pn_tar_unpack_fd(tar, dest, &few, &error), PN_ETOOBIG);
  assert_string_equal(error, "it has more than 6 entries");
  pn_free(error);
  close(tar);
  tar = open_in("bundle.tar", O_RDONLY);
  pn_tar_limits enough = {big + short_of + 701, 7};
  assert_int_equal(pn_tar_unpack_fd(tar, dest, &enough, &error), 0);
  close(tar);

  pn_free(a);
  pn_free(b);
  pn_free(c);
  pn_free(d);
  pn_free(e);
  pn_free(dest);
  pn_free(src);
}

/* One ustar member: header (name, type, size) then the content padded to 512. */
static void add_member(pn_buf *tar, const char *name, char type, const char *content,
                       const char *link) {
  unsigned char header[512] = {0};
  size_t length = content ? strlen(content) : 0;
  snprintf((char *)header, 100, "%s", name);
  snprintf((char *)header + 100, 8, "%07o", 0644);
  snprintf((char *)header + 108, 8, "%07o", 0);
  snprintf((char *)header + 116, 8, "%07o", 0);
  snprintf((char *)header + 124, 12, "%011o", (unsigned)length & 0777777u);
  snprintf((char *)header + 136, 12, "%011o", 0);
  header[156] = (unsigned char)type;
  if (link)
    snprintf((char *)header + 157, 100, "%s", link);
  memcpy(header + 257, "ustar", 6);
  memcpy(header + 263, "00", 2);
  memset(header + 148, ' ', 8);
  unsigned sum = 0;
  for (size_t i = 0; i < sizeof header; i++)
    sum += header[i];
  snprintf((char *)header + 148, 8, "%06o", sum);
  pn_buf_append(tar, header, sizeof header);
  if (length) {
    unsigned char padding[512] = {0};
    pn_buf_append(tar, content, length);
    pn_buf_append(tar, padding, (512 - length % 512) % 512);
  }
}

static void end_tar(pn_buf *tar) {
  unsigned char zeros[1024] = {0};
  pn_buf_append(tar, zeros, sizeof zeros);
}

/* Unpacks `tar` both ways into fresh folders; both must give `rc` and the same error. */
static char *unpack_both(const pn_buf *tar, int rc) {
  char *from_memory = path_in("from-memory"), *from_file = path_in("from-file");
  pn_fs_remove_tree(from_memory);
  pn_fs_remove_tree(from_file);
  assert_int_equal(mkdir(from_memory, 0755), 0);
  assert_int_equal(mkdir(from_file, 0755), 0);
  pn_tar_limits limits = {1 << 20, 100};
  char *memory_error = NULL, *file_error = NULL;
  assert_int_equal(pn_tar_unpack(tar->data, tar->length, from_memory, &limits, &memory_error), rc);
  char *tar_path = path_in("crafted.tar");
  assert_int_equal(pn_fs_write(tar_path, tar->data, tar->length), 0);
  int fd = open(tar_path, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(pn_tar_unpack_fd(fd, from_file, &limits, &file_error), rc);
  close(fd);
  pn_free(tar_path);
  if (rc < 0) {
    assert_non_null(memory_error);
    assert_string_equal(memory_error, file_error);
  }
  pn_free(file_error);
  pn_free(from_memory);
  pn_free(from_file);
  return memory_error;
}

static void test_both_unpackers_refuse_paths_that_leave_the_folder(void **state) {
  pn_buf tar;
  pn_buf_init(&tar, 1 << 20);
  add_member(&tar, "fine.txt", '0', "fine", NULL);
  add_member(&tar, "sub/../../evil.txt", '0', "evil", NULL);
  end_tar(&tar);
  char *error = unpack_both(&tar, PN_EINVAL);
  assert_string_equal(error, "the archive has the unsafe path \"sub/../../evil.txt\"");
  pn_free(error);
  char *evil = path_in("evil.txt");
  assert_int_equal(access(evil, F_OK), -1);
  pn_free(evil);
  pn_buf_free(&tar);

  pn_buf_init(&tar, 1 << 20);
  add_member(&tar, "/tmp/pinion-test-tar-absolute", '0', "absolute", NULL);
  end_tar(&tar);
  error = unpack_both(&tar, PN_EINVAL);
  assert_string_equal(error, "the archive has the unsafe path \"/tmp/pinion-test-tar-absolute\"");
  pn_free(error);
  assert_int_equal(access("/tmp/pinion-test-tar-absolute", F_OK), -1);
  pn_buf_free(&tar);
}

static void test_links_are_not_written_and_the_rest_is(void **state) {
  pn_buf tar;
  pn_buf_init(&tar, 1 << 20);
  add_member(&tar, "link", '2', NULL, "/etc/passwd");
  add_member(&tar, "hard", '1', NULL, "kept.txt");
  add_member(&tar, "kept.txt", '0', "kept", NULL);
  end_tar(&tar);
  char *error = unpack_both(&tar, 0);
  assert_null(error);
  const char *folders[] = {"from-memory", "from-file"};
  for (int i = 0; i < 2; i++) {
    char *link = pn_strfmt("%s/%s/link", root, folders[i]);
    char *hard = pn_strfmt("%s/%s/hard", root, folders[i]);
    char *kept = pn_strfmt("%s/%s/kept.txt", root, folders[i]);
    struct stat info;
    assert_int_equal(lstat(link, &info), -1);
    assert_int_equal(lstat(hard, &info), -1);
    char *data = NULL;
    size_t length = 0;
    assert_int_equal(pn_fs_read(kept, 100, &data, &length), 0);
    assert_int_equal(length, 4);
    assert_memory_equal(data, "kept", 4);
    pn_free(data);
    pn_free(link);
    pn_free(hard);
    pn_free(kept);
  }
  pn_buf_free(&tar);
}

static void test_bytes_that_are_no_archive_are_refused_alike(void **state) {
  pn_buf junk;
  pn_buf_init(&junk, 1 << 20);
  for (int i = 0; i < 300; i++)
    pn_buf_append(&junk, "not a tar, ", 11);
  char *error = unpack_both(&junk, PN_EPARSE);
  assert_non_null(strstr(error, "archive"));
  pn_free(error);
  pn_buf_free(&junk);
  char *dest = path_in("from-file");
  pn_tar_limits limits = {1 << 20, 100};
  assert_int_equal(pn_tar_unpack_fd(-1, dest, &limits, &error), PN_EINVAL);
  assert_string_equal(error, "no archive to unpack (a closed file)");
  pn_free(error);
  pn_free(dest);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_file_packed_and_unpacked_in_chunks_comes_back_byte_exact),
      cmocka_unit_test(test_both_unpackers_refuse_paths_that_leave_the_folder),
      cmocka_unit_test(test_links_are_not_written_and_the_rest_is),
      cmocka_unit_test(test_bytes_that_are_no_archive_are_refused_alike),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
