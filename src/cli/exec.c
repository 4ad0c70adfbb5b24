/* Running images: `pinion exec` (a command in the model's environment, Cog 0.2x's
 * `cog exec`, Cog 0.9's `cog run`), `pinion predict --image` and `pinion serve --image`.
 * Each hands over to `ENGINE run` (the engine then owns the terminal and signals, so
 * Ctrl-C reaches pinion inside the container and cancels the prediction).
 *
 * `predict --image` runs `pinion predict` inside the image: the host's current folder
 * is mounted below the model (/src/.pinion-io, so cog.yaml is found one folder up) and
 * is where output files land, exactly as in folder mode; `@file` inputs and an output
 * path outside that folder are mounted in. */
#include "cli/cli.h"
#include "cli/image_cli.h"
#include "cli/options.h"
#include "core/alloc.h"
#include "core/error.h"
#include "director/networks.h"
#include "director/sandbox.h"
#include "image/image.h"
#include "image/network.h"

#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IO_DIR "/src/.pinion-io"

int pn_cli_has_image_flag(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--image") == 0 || strncmp(argv[i], "--image=", 8) == 0)
      return 1;
  return 0;
}

/* Whether the image's run.cog.config asks for a GPU. */
static int image_wants_gpu(const pn_image_engine *engine, const char *image) {
  json_t *labels = NULL;
  if (pn_image_labels(engine, image, &labels) < 0)
    return 0;
  json_t *config = json_loads(json_string_value(json_object_get(labels, "run.cog.config"))
                                  ? json_string_value(json_object_get(labels, "run.cog.config"))
                                  : "{}",
                              0, NULL);
  int gpu = json_is_true(json_object_get(json_object_get(config, "build"), "gpu"));
  json_decref(config);
  json_decref(labels);
  return gpu;
}

/* Mounts a host file read-only at /tmp/pinion-inputs/N/<name>; returns the path inside
 * (pn_malloc'd) or NULL after printing why. */
static char *mount_file(pn_image_argv *run, const char *host_path, int index) {
  char resolved[PATH_MAX];
  if (!realpath(host_path, resolved)) {
    fprintf(stderr, "error: cannot read the input file %s\n", host_path);
    return NULL;
  }
  char *copy = pn_strdup(resolved);
  char *inside = copy ? pn_strfmt("/tmp/pinion-inputs/%d/%s", index, basename(copy)) : NULL;
  if (inside)
    pn_image_argv_addf(run, "--volume=%s:%s:ro", resolved, inside);
  pn_free(copy);
  return inside;
}

static int usage_error(const char *message, const char *value) {
  fprintf(stderr, "pinion predict: %s \"%s\"\n", message, value);
  return 2;
}

int pn_cli_predict_image(int argc, char **argv) {
  pn_cli_args args;
  pn_cli_args_init(&args, argc, argv);
  const char *image = NULL, *engine_name = NULL, *value = NULL;
  pn_image_argv run, inner;
  pn_image_argv_init(&run);
  pn_image_argv_init(&inner);
  int exit_code = 2, mounts = 0;
  pn_image_argv_add(&inner, "pinion");
  /* `pinion train --image` runs `pinion train` inside, as `predict --image` runs predict. */
  pn_image_argv_add(&inner, strcmp(argv[0], "train") == 0 ? "train" : "predict");
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) {
    fprintf(stderr, "error: cannot read the current folder\n");
    return 1;
  }
  pn_image_argv env;
  pn_image_argv_init(&env);
  const pn_cli_text_flag text_flags[] = {
      {"--image", NULL, &image},
      {"--engine", NULL, &engine_name},
      {NULL, NULL, NULL},
  };
  int more;
  while ((more = pn_cli_next(&args, text_flags)) > 0) {
    int matched;
    if ((matched = pn_cli_flag(&args, "--input", "-i", &value)) != 0) {
      if (matched < 0)
        goto done;
      const char *equals = strchr(value, '=');
      pn_image_argv_add(&inner, "-i");
      if (equals && equals[1] == '@') {
        char *inside = mount_file(&env, equals + 2, mounts++);
        if (!inside) {
          exit_code = 1;
          goto done;
        }
        pn_image_argv_addf(&inner, "%.*s=@%s", (int)(equals - value), value, inside);
        pn_free(inside);
      } else {
        pn_image_argv_add(&inner, value);
      }
    } else if ((matched = pn_cli_flag(&args, "--json", NULL, &value)) != 0) {
      if (matched < 0)
        goto done;
      pn_image_argv_add(&inner, "--json");
      if (value[0] == '@') {
        char *inside = mount_file(&env, value + 1, mounts++);
        if (!inside) {
          exit_code = 1;
          goto done;
        }
        pn_image_argv_addf(&inner, "@%s", inside);
        pn_free(inside);
      } else {
        pn_image_argv_add(&inner, value);
      }
    } else if ((matched = pn_cli_flag(&args, "--output", "-o", &value)) != 0) {
      if (matched < 0)
        goto done;
      pn_image_argv_add(&inner, "-o");
      if (value[0] == '/') {
        char *copy = pn_strdup(value), *name = pn_strdup(value);
        if (!copy || !name) {
          pn_free(copy);
          pn_free(name);
          exit_code = 1;
          goto done;
        }
        pn_image_argv_addf(&env, "--volume=%s:/tmp/pinion-output", dirname(copy));
        pn_image_argv_addf(&inner, "/tmp/pinion-output/%s", basename(name));
        pn_free(copy);
        pn_free(name);
      } else {
        pn_image_argv_add(&inner, value);
      }
    } else if ((matched = pn_cli_flag(&args, "--env", "-e", &value)) != 0) {
      if (matched < 0)
        goto done;
      if (!strchr(value, '=') || value[0] == '=') {
        exit_code = usage_error("-e takes KEY=VALUE, got", value);
        goto done;
      }
      pn_image_argv_addf(&env, "--env=%s", value);
    } else if ((matched = pn_cli_flag(&args, "--setup-timeout", NULL, &value)) != 0) {
      if (matched < 0)
        goto done;
      pn_image_argv_add(&inner, "--setup-timeout");
      pn_image_argv_add(&inner, value);
    } else {
      exit_code = pn_cli_unknown(&args);
      goto done;
    }
  }
  if (more < 0)
    goto done;
  pn_image_engine engine;
  exit_code = 1;
  if (pn_cli_engine(engine_name, &engine) < 0 || pn_image_ensure(&engine, image) < 0)
    goto done;
  if (!engine.can_run) {
    fprintf(stderr, "error: %s builds images but cannot run them; install podman or docker\n",
            engine.name);
    goto done;
  }
  pn_image_run_prefix(&engine, &run, image_wants_gpu(&engine, image), 1);
  pn_image_argv_addf(&run, "--volume=%s:" IO_DIR, cwd);
  pn_image_argv_add(&run, "--workdir=" IO_DIR);
  for (size_t i = 0; i < env.count; i++)
    pn_image_argv_add(&run, env.items[i]);
  pn_image_argv_add(&run, image);
  for (size_t i = 0; i < inner.count; i++)
    pn_image_argv_add(&run, inner.items[i]);
  int rc = pn_image_exec(&run);
  fprintf(stderr, "error: could not run %s: %s\n", engine.name, pn_strerror(rc));
done:
  pn_image_argv_free(&run);
  pn_image_argv_free(&inner);
  pn_image_argv_free(&env);
  return exit_code;
}

/* A free TCP port on 127.0.0.1 for `--port 0`: the engine needs a number to publish. */
static long free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t size = sizeof address;
  long port = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&address, sizeof address) == 0 &&
      getsockname(fd, (struct sockaddr *)&address, &size) == 0)
    port = ntohs(address.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

/* What the hub asks for an image version (`--x-isolate`, see docs/security.md): the
 * engine's own bridge network, never the host's (whatever containers.conf says), so
 * that the host's loopback is out of reach; no capabilities and no way to gain any;
 * and the memory and process limits of its sandboxed folder versions
 * (PINION_SANDBOX_MEMORY_MB, PINION_SANDBOX_PROCESSES). The container already gets no
 * host folder and no variable of the host's but PORT. */
/* With a network slot (`--x-network-slot N`, from the hub), the container runs on that
 * slot's network of the hub's own (image/network.h), which no other instance's
 * container shares, instead of the engine's default bridge. Returns 0, or 1 after
 * saying why the network could not be made. */
static int add_isolation(const pn_image_engine *engine, pn_image_argv *run, long network_slot) {
  pn_sandbox_options limits = pn_sandbox_options_from_env();
  if (network_slot >= 0) {
    pn_network_slot slot;
    pn_network_slot_get((int)network_slot, &slot);
    char *error = NULL;
    if (pn_image_network_ensure(engine, slot.name, slot.subnet, slot.gateway, &error) < 0) {
      fprintf(stderr, "error: %s\n", error ? error : "out of memory");
      pn_free(error);
      return 1;
    }
    pn_image_argv_addf(run, "--network=%s", slot.name);
    /* The hub is at PN_CONTAINER_HOST (director/networks.h), the network's gateway: podman
     * names it so in every container on a bridge, docker when asked. */
    if (engine->kind == PN_ENGINE_DOCKER)
      pn_image_argv_addf(run, "--add-host=" PN_CONTAINER_HOST ":%s", slot.gateway);
  } else {
    pn_image_argv_add(run, "--network=" PN_IMAGE_BRIDGE);
    if (engine->kind == PN_ENGINE_DOCKER)
      pn_image_argv_add(run, "--add-host=" PN_CONTAINER_HOST ":host-gateway");
  }
  pn_image_argv_add(run, "--cap-drop=all");
  pn_image_argv_add(run, "--security-opt=no-new-privileges");
  if (limits.memory_bytes)
    pn_image_argv_addf(run, "--memory=%llum", limits.memory_bytes >> 20);
  if (limits.processes)
    pn_image_argv_addf(run, "--pids-limit=%lu", limits.processes);
  return 0;
}

int pn_cli_serve_image(int argc, char **argv) {
  pn_cli_args args;
  pn_cli_args_init(&args, argc, argv);
  const char *image = NULL, *engine_name = NULL, *host = "127.0.0.1", *value = NULL;
  const char *port_file = NULL;
  long port = 8393;
  int isolate = 0; /* --x-isolate: the hub runs someone else's image */
  long network_slot = -1; /* --x-network-slot: its network of the hub's own */
  pn_image_argv env, server_args;
  pn_image_argv_init(&env);
  pn_image_argv_init(&server_args);
  const pn_cli_text_flag text_flags[] = {
      {"--image", NULL, &image},
      {"--engine", NULL, &engine_name},
      {"--host", NULL, &host},
      {"--port-file", NULL, &port_file},
      {NULL, NULL, NULL},
  };
  int more;
  while ((more = pn_cli_next(&args, text_flags)) > 0) {
    int matched;
    if ((matched = pn_cli_flag(&args, "--port", "-p", &value)) != 0) {
      if (matched < 0)
        return 2;
      char *end = NULL;
      port = strtol(value, &end, 10);
      if (!end || *end || port < 0 || port > 65535) {
        fprintf(stderr, "pinion serve: --port takes a number from 0 to 65535, got \"%s\"\n",
                value);
        return 2;
      }
    } else if ((matched = pn_cli_flag(&args, "--upload-url", NULL, &value)) != 0) {
      /* Flags of the server inside the image are passed on to it. */
      if (matched < 0)
        return 2;
      pn_image_argv_add(&server_args, "--upload-url");
      pn_image_argv_add(&server_args, value);
    } else if ((matched = pn_cli_flag(&args, "--x-mode", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      pn_image_argv_add(&server_args, "--x-mode");
      pn_image_argv_add(&server_args, value);
    } else if ((matched = pn_cli_flag(&args, "--python", NULL, &value)) != 0) {
      if (matched < 0) /* the image has its own Python */
        return 2;
    } else if ((matched = pn_cli_flag(&args, "--env", "-e", &value)) != 0) {
      if (matched < 0)
        return 2;
      pn_image_argv_addf(&env, "--env=%s", value);
    } else if (pn_cli_switch(&args, "--x-isolate", NULL)) {
      isolate = 1;
    } else if ((matched = pn_cli_flag(&args, "--x-network-slot", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      char *end = NULL;
      network_slot = strtol(value, &end, 10);
      if (!end || *end || network_slot < 0 || network_slot >= PN_NETWORK_SLOTS) {
        fprintf(stderr, "pinion serve: --x-network-slot takes a number from 0 to %d, got \"%s\"\n",
                PN_NETWORK_SLOTS - 1, value);
        return 2;
      }
    } else {
      pn_image_argv_free(&env);
      pn_image_argv_free(&server_args);
      return pn_cli_unknown(&args);
    }
  }
  if (more < 0)
    return 2;
  if (port == 0 && (port = free_port()) < 0) {
    fprintf(stderr, "pinion serve: no free port on 127.0.0.1\n");
    return 1;
  }
  pn_image_engine engine;
  int exit_code = 1;
  if (pn_cli_engine(engine_name, &engine) == 0 && pn_image_ensure(&engine, image) == 0) {
    pn_image_argv run;
    pn_image_argv_init(&run);
    pn_image_run_prefix(&engine, &run, image_wants_gpu(&engine, image), 1);
    if (isolate && add_isolation(&engine, &run, network_slot) != 0) {
      pn_image_argv_free(&run);
      pn_image_argv_free(&env);
      pn_image_argv_free(&server_args);
      return 1;
    }
    /* The server listens on the same port inside; on a host-network engine that port
     * is the host's, otherwise (and always for the hub, whose containers are on the
     * bridge) it is published on HOST. */
    pn_image_argv_addf(&run, "--env=PORT=%ld", port);
    if (isolate || !engine.host_network)
      pn_image_argv_addf(&run, "--publish=%s:%ld:%ld", host, port, port);
    for (size_t i = 0; i < env.count; i++)
      pn_image_argv_add(&run, env.items[i]);
    pn_image_argv_add(&run, image);
    if (server_args.count > 0) { /* the image's own command, with the passed flags */
      pn_image_argv_add(&run, "python3");
      pn_image_argv_add(&run, "-m");
      pn_image_argv_add(&run, "cog.server.http");
      for (size_t i = 0; i < server_args.count; i++)
        pn_image_argv_add(&run, server_args.items[i]);
    }
    if (port_file) {
      FILE *file = fopen(port_file, "w");
      if (file) {
        fprintf(file, "%ld\n", port);
        fclose(file);
      }
    }
    fprintf(stderr, "Serving %s on http://%s:%ld with %s\n", image, host, port, engine.name);
    int rc = pn_image_run_container(&run);
    if (rc < 0)
      fprintf(stderr, "error: could not run %s: %s\n", engine.name, pn_strerror(rc));
    else
      exit_code = rc;
    pn_image_argv_free(&run);
  }
  pn_image_argv_free(&env);
  pn_image_argv_free(&server_args);
  return exit_code;
}

static const char exec_help[] =
    "Usage: pinion exec [FLAGS] [--] COMMAND [ARG...]\n"
    "\n"
    "Runs COMMAND in the model's environment: the image built from the current folder\n"
    "(built first, with the folder mounted at /src so edits show at once), or IMAGE.\n"
    "Cog 0.9 called this `cog run`.\n"
    "\n"
    "Flags:\n"
    "      --image IMAGE        Run in IMAGE instead of building the folder's image\n"
    "  -e, --env KEY=VALUE      Set an environment variable; repeatable\n"
    "  -p, --publish PORT       Publish a container port on the same host port\n"
    "      --base-image REF     As for pinion build\n"
    "      --engine NAME        docker, podman or buildah\n"
    "\n"
    "Examples:\n"
    "  pinion exec python -c 'import numpy; print(numpy.__version__)'\n"
    "  pinion exec --image cog-hello -- pip freeze\n";

static int run_exec(int argc, char **argv) {
  pn_cli_args args;
  pn_cli_args_init(&args, argc, argv);
  const char *image = NULL, *engine_name = NULL, *base_image = NULL, *value = NULL;
  pn_image_argv extra;
  pn_image_argv_init(&extra);
  const pn_cli_text_flag text_flags[] = {
      {"--image", NULL, &image},
      {"--engine", NULL, &engine_name},
      {"--base-image", NULL, &base_image},
      {NULL, NULL, NULL},
  };
  int more;
  while ((more = pn_cli_next(&args, text_flags)) > 0 && argv[args.index][0] == '-') {
    int matched;
    if (strcmp(argv[args.index], "--") == 0) {
      args.index++;
      break;
    } else if ((matched = pn_cli_flag(&args, "--env", "-e", &value)) != 0) {
      if (matched < 0)
        return 2;
      pn_image_argv_addf(&extra, "--env=%s", value);
    } else if ((matched = pn_cli_flag(&args, "--publish", "-p", &value)) != 0) {
      if (matched < 0)
        return 2;
      pn_image_argv_addf(&extra, "--publish=%s:%s", value, value);
    } else {
      pn_image_argv_free(&extra);
      return pn_cli_unknown(&args);
    }
  }
  if (more < 0) {
    pn_image_argv_free(&extra);
    return 2;
  }
  if (args.index >= argc) {
    pn_image_argv_free(&extra);
    fprintf(stderr, "pinion exec: give the command to run, e.g. pinion exec python --version\n");
    return 2;
  }
  pn_image_engine engine;
  pn_config *config = NULL;
  char *tag = NULL;
  int exit_code = 1;
  if (pn_cli_engine(engine_name, &engine) < 0)
    goto done;
  if (!image) {
    if (!(config = pn_cli_load_config(NULL, 0)) || !(tag = pn_cli_image_tag(config)) ||
        pn_cli_build_image(&engine, config, tag, base_image, 0) != 0)
      goto done;
  } else if (pn_image_ensure(&engine, image) < 0) {
    goto done;
  }
  const char *target = image ? image : tag;
  pn_image_argv run;
  pn_image_argv_init(&run);
  pn_image_run_prefix(&engine, &run, image_wants_gpu(&engine, target), 1);
  if (config)
    pn_image_argv_addf(&run, "--volume=%s:/src", config->dir);
  for (size_t i = 0; i < extra.count; i++)
    pn_image_argv_add(&run, extra.items[i]);
  pn_image_argv_add(&run, target);
  for (int i = args.index; i < argc; i++)
    pn_image_argv_add(&run, argv[i]);
  int rc = pn_image_exec(&run);
  fprintf(stderr, "error: could not run %s: %s\n", engine.name, pn_strerror(rc));
  pn_image_argv_free(&run);
done:
  pn_free(tag);
  pn_config_free(config);
  pn_image_argv_free(&extra);
  return exit_code;
}

const struct pn_cli_command pn_cli_exec_command = {
    "exec", "Run a command in the model's image", exec_help, run_exec};
