/*
 * Isolation with bubblewrap: a sandbox cannot read a host file the host
 * can, cannot see another sandbox's workspace, cannot write system
 * directories, has its own pid namespace and no network. The network check
 * is proven meaningful by running it unisolated first, where it connects.
 * Skipped (77) only when bwrap cannot run here.
 */
#include <sys/stat.h>

#include "local_util.h"

static int accepted;

static void on_conn(uv_stream_t *server, int status) {
  uv_tcp_t *peer;
  ASSERT_EQ(status, 0);
  peer = malloc(sizeof(*peer));
  ASSERT(peer != NULL);
  uv_tcp_init(server->loop, peer);
  ASSERT_EQ(uv_accept(server, (uv_stream_t *)peer), 0);
  accepted++;
  uv_close((uv_handle_t *)peer, (uv_close_cb)free);
}

/* The workspace directory holding name, found by looking, not by naming. */
static void find_workspace_of(const char *root, const char *name, char *out,
                              size_t len) {
  DIR *d = opendir(root);
  struct dirent *de;
  struct stat st;
  ASSERT(d != NULL);
  out[0] = '\0';
  while ((de = readdir(d)) != NULL) {
    snprintf(out, len, "%s/%s/workspace/%s", root, de->d_name, name);
    if (stat(out, &st) == 0)
      break;
    out[0] = '\0';
  }
  closedir(d);
  ASSERT(out[0] != '\0');
  *strrchr(out, '/') = '\0';
}

int main(void) {
  uv_loop_t loop;
  char *root = lt_mkroot(), *secret_dir = lt_mkroot();
  char secret[512], other_ws[1024], script[2048], probe[256];
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int blen = sizeof(bound);
  uv_tcp_t server;
  nox_client_t *c, *open_c;
  lt_res_t r;
  FILE *f;

  ASSERT_EQ(uv_loop_init(&loop), 0);
  if (!lt_have_bwrap(&loop, root)) {
    printf("SKIP: bubblewrap cannot run here\n");
    lt_rmroot(root);
    lt_rmroot(secret_dir);
    ASSERT_LOOP_CLOSES(&loop);
    return 77;
  }

  /* A host file the host can read. */
  snprintf(secret, sizeof(secret), "%s/secret.txt", secret_dir);
  f = fopen(secret, "w");
  ASSERT(f != NULL);
  fputs("host secret\n", f);
  fclose(f);

  /* A listener on loopback, for the network check. */
  ASSERT_EQ(uv_tcp_init(&loop, &server), 0);
  ASSERT_EQ(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
  ASSERT_EQ(uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0), 0);
  ASSERT_EQ(uv_listen((uv_stream_t *)&server, 8, on_conn), 0);
  ASSERT_EQ(uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &blen), 0);
  snprintf(probe, sizeof(probe), "echo hi > /dev/tcp/127.0.0.1/%d",
           ntohs(((struct sockaddr_in *)&bound)->sin_port));
  const char *net[] = {"bash", "-c", probe, NULL};

  /* Unisolated, everything below succeeds: the checks can tell. */
  open_c = lt_client(&loop, root, NOX_ISOLATION_NONE);
  ASSERT_EQ(lt_create(open_c, "open", 0, &r), 0);
  ASSERT_EQ(lt_exec_opts(open_c, "open", net, NULL, &r), 0);
  ASSERT_EQ(r.exit_code, 0);
  lt_res_free(&r);
  for (int i = 0; i < 6000 && accepted == 0; i++) /* a hang guard: 60 s */
    lt_sleep(&loop, 10);
  ASSERT_EQ(accepted, 1);
  snprintf(script, sizeof(script), "cat %s", secret);
  lt_sh(open_c, "open", script, &r);
  ASSERT_STR_EQ(r.out, "host secret\n");
  lt_res_free(&r);
  lt_close(open_c);

  c = lt_client(&loop, root, NOX_ISOLATION_BWRAP);
  ASSERT_EQ(lt_create(c, "a", 0, &r), 0);
  ASSERT_EQ(lt_create(c, "b", 0, &r), 0);

  /* No network: the connect fails, nothing reaches the listener. */
  ASSERT_EQ(lt_exec_opts(c, "a", net, NULL, &r), 0);
  ASSERT_NE(r.exit_code, 0);
  lt_res_free(&r);
  lt_sleep(&loop, 100);
  ASSERT_EQ(accepted, 1);
  lt_sh(c, "a", "cat /proc/net/dev", &r);
  ASSERT(strstr(r.out, "lo:") != NULL);
  ASSERT(strstr(r.out, "eth") == NULL);
  lt_res_free(&r);

  /* The host file is not there for it. */
  snprintf(script, sizeof(script), "cat %s", secret);
  lt_sh(c, "a", script, &r);
  ASSERT_NE(r.exit_code, 0);
  ASSERT(strstr(r.out, "host secret") == NULL);
  lt_res_free(&r);

  /* Another sandbox's workspace is out of sight, by any path. */
  lt_sh(c, "b", "echo from-b > b-only.txt", &r);
  lt_res_free(&r);
  find_workspace_of(root, "b-only.txt", other_ws, sizeof(other_ws));
  snprintf(
      script, sizeof(script),
      "cat %s/b-only.txt; ls %s; cat /workspace/../*/workspace/b-only.txt; "
      "ls /workspace",
      other_ws, root);
  lt_sh(c, "a", script, &r);
  ASSERT(strstr(r.out, "from-b") == NULL);
  ASSERT(strstr(r.out, "b-only") == NULL);
  lt_res_free(&r);

  /* System directories are read-only; the sandbox's own /tmp is private. */
  lt_sh(c, "a",
        "touch /usr/nox-isolation-probe 2>/dev/null && echo wrote; "
        "echo mine > /tmp/t && cat /tmp/t",
        &r);
  ASSERT_STR_EQ(r.out, "mine\n");
  lt_res_free(&r);
  ASSERT_NE(access("/usr/nox-isolation-probe", F_OK), 0);

  /* Its own pid namespace: only a handful of processes. */
  lt_sh(c, "a", "ls /proc | grep -c '^[0-9][0-9]*$'", &r);
  ASSERT_LT(atoi(r.out), 10);
  lt_res_free(&r);

  lt_close(c);
  uv_close((uv_handle_t *)&server, NULL);
  lt_rmroot(root);
  lt_rmroot(secret_dir);
  ASSERT_LOOP_CLOSES(&loop);
  return 0;
}
