/*
 * The floor: what any server of pinion's shape costs on this machine. An evhttp server
 * that relays each request body to a bare Python loop over a socketpair and answers
 * with what comes back: no JSON, no validation, no bookkeeping. bench/run measures it
 * next to `pinion serve`, so that the figures can be read against the machine.
 *
 *     floor PORT PYTHON SLEEP_SECONDS RECORD_FILE
 *
 * The Python side sleeps SLEEP_SECONDS per request (0: none) and appends the time the
 * sleep really took to RECORD_FILE, as bench/models/sleep10ms does.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *loop_source =
    "import os, sys, time\n"
    "pause = float(sys.argv[1])\n"
    "record = open(sys.argv[2], 'a', buffering=1) if pause else None\n"
    "while True:\n"
    "    try:\n"
    "        data = os.read(3, 65536)\n"
    "    except OSError:\n"
    "        break\n"
    "    if not data:\n"
    "        break\n"
    "    if pause:\n"
    "        started = time.perf_counter()\n"
    "        time.sleep(pause)\n"
    "        record.write('%.7f\\n' % (time.perf_counter() - started))\n"
    "    try:\n"
    "        os.write(3, data)\n"
    "    except OSError:\n"
    "        break\n";

static int relay = -1;
static struct evhttp_request *waiting;

static void on_reply(evutil_socket_t fd, short what, void *arg) {
  char bytes[65536];
  ssize_t got = read(fd, bytes, sizeof bytes);
  if (got <= 0) {
    fprintf(stderr, "floor: the Python loop ended\n");
    exit(1);
  }
  if (!waiting)
    return;
  struct evbuffer *body = evbuffer_new();
  evbuffer_add(body, bytes, (size_t)got);
  evhttp_add_header(evhttp_request_get_output_headers(waiting), "Content-Type",
                    "application/json");
  evhttp_send_reply(waiting, 200, "OK", body);
  evbuffer_free(body);
  waiting = NULL;
}

static void on_request(struct evhttp_request *request, void *arg) {
  struct evbuffer *input = evhttp_request_get_input_buffer(request);
  size_t length = evbuffer_get_length(input);
  if (length == 0 || length > 65536 || waiting) {
    evhttp_send_error(request, 400, "one small request at a time");
    return;
  }
  char bytes[65536];
  evbuffer_remove(input, bytes, length);
  if (write(relay, bytes, length) != (ssize_t)length) {
    evhttp_send_error(request, 500, "relay failed");
    return;
  }
  waiting = request;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: floor PORT PYTHON SLEEP_SECONDS RECORD_FILE\n");
    return 2;
  }
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0)
    return 1;
  pid_t child = fork();
  if (child == 0) {
    dup2(pair[1], 3);
    execl(argv[2], argv[2], "-c", loop_source, argv[3], argv[4], (char *)NULL);
    _exit(127);
  }
  close(pair[1]);
  relay = pair[0];
  signal(SIGPIPE, SIG_IGN);
  struct event_base *base = event_base_new();
  struct evhttp *http = evhttp_new(base);
  if (evhttp_bind_socket(http, "127.0.0.1", (unsigned short)atoi(argv[1])) < 0) {
    fprintf(stderr, "floor: could not listen on port %s\n", argv[1]);
    return 1;
  }
  evhttp_set_gencb(http, on_request, NULL);
  struct event *replies = event_new(base, relay, EV_READ | EV_PERSIST, on_reply, NULL);
  event_add(replies, NULL);
  event_base_dispatch(base);
  return 0;
}
