/*
 * Session ids map to directories safely and without collisions: hostile
 * ids ("../x", "a/b", ".", "..", absolute, control bytes, invalid UTF-8),
 * ids that differ only in ways a naive sanitiser would erase, and long ids
 * that share a long prefix each get their own sandbox, inside the root.
 */
#include <sys/stat.h>

#include "local_util.h"

#define MAX_ID 1024

static char *repeat(char ch, size_t n, char last) {
  char *s = malloc(n + 1);
  ASSERT(s != NULL);
  memset(s, ch, n);
  if (last)
    s[n - 1] = last;
  s[n] = '\0';
  return s;
}

/* Every entry of dir other than "." and "..", for a containment check. */
static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *de;
  int n = 0;
  ASSERT(d != NULL);
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
      n++;
  closedir(d);
  return n;
}

int main(void) {
  uv_loop_t loop;
  nox_client_t *c;
  lt_res_t r;
  char *parent = lt_mkroot(), root[512], content[32];
  char *ids[64];
  size_t n = 0, i;

  /* The root sits alone inside parent, so anything escaping it shows. */
  snprintf(root, sizeof(root), "%s/root", parent);
  ASSERT_EQ(mkdir(root, 0700), 0);

  ids[n++] = strdup("../x");
  ids[n++] = strdup("../../../../tmp/escape");
  ids[n++] = strdup("..");
  ids[n++] = strdup(".");
  ids[n++] = strdup("a/b");
  ids[n++] = strdup("a%2Fb");
  ids[n++] = strdup("a_b");
  ids[n++] = strdup("a-b");
  ids[n++] = strdup("a.b");
  ids[n++] = strdup("a b");
  ids[n++] = strdup("A/B");
  ids[n++] = strdup("/absolute");
  ids[n++] = strdup("%2E%2E");
  ids[n++] = strdup("~");
  ids[n++] = strdup("%7E");
  ids[n++] = strdup("sb-x");
  ids[n++] = strdup(".lock");
  ids[n++] = strdup(".trash-1-2-x");
  ids[n++] = strdup("line\nbreak");
  ids[n++] = strdup("tab\there");
  ids[n++] = strdup("\xff\xfe\x80 not utf-8");
  ids[n++] = strdup("\xe4\xbd\xa0\xe5\xa5\xbd"); /* UTF-8 */
  ids[n++] = repeat('a', MAX_ID, 0);
  ids[n++] = repeat('a', MAX_ID, 'b');   /* differs only at the end */
  ids[n++] = repeat('a', 200, 0);        /* just past the short form */
  ids[n++] = repeat('/', MAX_ID, 0);     /* every byte escaped */
  ids[n++] = repeat('/', MAX_ID - 1, 0); /* one shorter */
  ids[n++] = repeat('.', 300, 0);
  for (i = 0; i < n; i++)
    ASSERT(ids[i] != NULL);

  ASSERT_EQ(uv_loop_init(&loop), 0);
  c = lt_client(&loop, root, NOX_ISOLATION_NONE);

  /* The core refuses ids that cannot be valid before anything happens. */
  ASSERT_EQ(nox_create(NULL, c, "", NULL, lt_on_create, &r), NOX_EINVAL);
  char *too_long = repeat('x', MAX_ID + 1, 0);
  ASSERT_EQ(nox_create(NULL, c, too_long, NULL, lt_on_create, &r), NOX_EINVAL);
  free(too_long);

  for (i = 0; i < n; i++) {
    ASSERT_EQ(lt_create(c, ids[i], 600, &r), 0);
    snprintf(content, sizeof(content), "sandbox %zu", i);
    nox_file_t f = {"id.txt", content, strlen(content), 0};
    ASSERT_EQ(lt_upload(c, ids[i], NULL, &f, 1, NULL, 0, &r), 0);
  }
  /* One directory each, all inside the root, and nothing beside it. */
  ASSERT_EQ(lt_count_sandboxes(root), (int)n);
  ASSERT_EQ(count_entries(parent), 1);

  for (i = 0; i < n; i++) {
    snprintf(content, sizeof(content), "sandbox %zu", i);
    lt_sh(c, ids[i], "cat id.txt", &r);
    ASSERT_STR_EQ(r.out, content);
    lt_res_free(&r);
  }
  for (i = 0; i < n; i++) {
    ASSERT_EQ(lt_simple(nox_delete, c, ids[i]), 0);
    ASSERT_EQ(lt_count_sandboxes(root), (int)(n - i - 1));
  }
  for (i = 0; i < n; i++)
    free(ids[i]);

  lt_close(c);
  lt_rmroot(parent);
  ASSERT_LOOP_CLOSES(&loop);
  return 0;
}
