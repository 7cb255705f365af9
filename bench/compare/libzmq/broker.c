/*
 * broker: one process of a ROUTER | zmq_proxy | DEALER broker run against
 * libzmq, the shape of wisp's `bench thr -pattern broker`.
 *
 *   broker broker FRONTEND BACKEND CONTROL WORKERS
 *       bind a DEALER at BACKEND and wait until WORKERS workers have
 *       completed their handshake, then bind a ROUTER at FRONTEND and a PULL
 *       at CONTROL and run zmq_proxy_steerable(ROUTER, DEALER) until
 *       TERMINATE arrives on CONTROL; then send each worker a stop request
 *       (an empty body) through the DEALER; print
 *       {"role":"broker","workers":..}
 *   broker workers BACKEND SIZE WORKERS
 *       WORKERS threads, each a REP connected to BACKEND that echoes every
 *       request of SIZE bytes until its stop request; print
 *       {"role":"workers","workers":..,"served":..}
 *   broker clients FRONTEND CONTROL SIZE COUNT CLIENTS WINDOW
 *       CLIENTS threads, each a DEALER connected to FRONTEND: one untimed
 *       request, then, all together once every one has had its reply, its
 *       share of COUNT requests (shared evenly), keeping up to WINDOW
 *       unanswered; print
 *       {"role":"clients","size":..,"count":..,"clients":..,"window":..,"seconds":..}
 *       timed from the start of the shares to the last reply, then send
 *       TERMINATE to the broker's CONTROL
 *   broker version
 *       print the libzmq version, e.g. 4.3.4
 *
 * A request is an empty delimiter and SIZE bytes of 'w'; a reply is the
 * same, echoed by the worker. The workers answer exactly COUNT + CLIENTS
 * requests (the shares and the untimed ones), which the runner checks. The
 * DEALER hands the stop requests out round-robin, one to each idle worker.
 * Every socket keeps libzmq's default high-water marks (1000).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define MAX_PEERS 64
/* Bound, in milliseconds, on waiting for the workers to connect. */
#define JOIN_MS 30000

static int fail(const char *what)
{
	fprintf(stderr, "broker: %s: %s\n", what, zmq_strerror(zmq_errno()));
	return 1;
}

static int parse_count(const char *s, long long min, long long max, long long *out)
{
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Starts watching s for completed handshakes; *m gets the socket the events
 * come on. Call it before s binds: an event with nobody connected to the
 * monitor is lost. */
static int watch_handshakes(void *ctx, void *s, void **m)
{
	const char *mon = "inproc://broker-backend-monitor";
	if (zmq_socket_monitor(s, mon, ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0)
		return fail("zmq_socket_monitor");
	*m = zmq_socket(ctx, ZMQ_PAIR);
	if (*m == NULL || zmq_connect(*m, mon) != 0)
		return fail("monitor socket");
	return 0;
}

/* Waits until `workers` peers have completed their handshake with s, whose
 * events come on m, then stops watching. */
static int wait_workers(void *s, void *m, long long workers)
{
	double deadline = now_seconds() + JOIN_MS / 1000.0;
	for (long long n = 0; n < workers;) {
		zmq_pollitem_t item = {m, 0, ZMQ_POLLIN, 0};
		if (zmq_poll(&item, 1, 100) < 0)
			return fail("zmq_poll monitor");
		if (item.revents == 0) {
			if (now_seconds() > deadline) {
				fprintf(stderr, "broker: got %lld of %lld workers after %d ms, want all\n", n, workers, JOIN_MS);
				return 1;
			}
			continue;
		}
		/* An event is two frames: event number and value, then the endpoint. */
		zmq_msg_t ev;
		zmq_msg_init(&ev);
		int more = 1;
		for (int part = 0; more; part++) {
			if (zmq_msg_recv(&ev, m, 0) < 0)
				return fail("zmq_msg_recv monitor");
			if (part == 0 && zmq_msg_size(&ev) >= 2) {
				unsigned short event;
				memcpy(&event, zmq_msg_data(&ev), sizeof event);
				if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
					n++;
			}
			more = zmq_msg_more(&ev);
		}
		zmq_msg_close(&ev);
	}
	zmq_socket_monitor(s, NULL, 0);
	int zero = 0;
	zmq_setsockopt(m, ZMQ_LINGER, &zero, sizeof zero);
	zmq_close(m);
	return 0;
}

static int run_broker(void *ctx, const char *front_ep, const char *back_ep, const char *control_ep, long long workers)
{
	void *back = zmq_socket(ctx, ZMQ_DEALER);
	void *front = zmq_socket(ctx, ZMQ_ROUTER);
	void *control = zmq_socket(ctx, ZMQ_PULL);
	if (back == NULL || front == NULL || control == NULL)
		return fail("zmq_socket");
	void *mon = NULL;
	if (watch_handshakes(ctx, back, &mon) != 0)
		return 1;
	if (zmq_bind(back, back_ep) != 0)
		return fail("zmq_bind backend");
	/* The clients connect, and retry, until the frontend is bound: binding
	 * it once every worker is there keeps the first requests from going
	 * to only some of them, as wisp's broker waits for its workers. */
	if (wait_workers(back, mon, workers) != 0)
		return 1;
	if (zmq_bind(front, front_ep) != 0)
		return fail("zmq_bind frontend");
	if (zmq_bind(control, control_ep) != 0)
		return fail("zmq_bind control");
	if (zmq_proxy_steerable(front, back, NULL, control) != 0)
		return fail("zmq_proxy_steerable");
	for (long long i = 0; i < workers; i++) {
		if (zmq_send(back, "", 0, ZMQ_SNDMORE) < 0 || zmq_send(back, "", 0, 0) < 0)
			return fail("zmq_send stop");
	}
	printf("{\"role\":\"broker\",\"workers\":%lld}\n", workers);
	fflush(stdout);
	zmq_close(control);
	zmq_close(front);
	/* Default linger (infinite): zmq_ctx_term waits until the stops are out. */
	zmq_close(back);
	return 0;
}

struct worker {
	void *ctx;
	const char *endpoint;
	long long size;
	long long served;
	int failed;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	w->failed = 1;
	void *s = zmq_socket(w->ctx, ZMQ_REP);
	if (s == NULL) {
		fail("zmq_socket");
		return NULL;
	}
	if (zmq_connect(s, w->endpoint) != 0) {
		fail("zmq_connect");
		zmq_close(s);
		return NULL;
	}
	zmq_msg_t msg;
	zmq_msg_init(&msg);
	for (;;) {
		if (zmq_msg_recv(&msg, s, 0) < 0) {
			fail("zmq_msg_recv");
			break;
		}
		size_t n = zmq_msg_size(&msg);
		if (n == 0) {
			w->failed = 0; /* the stop request */
			break;
		}
		if ((long long)n != w->size || zmq_msg_more(&msg)) {
			fprintf(stderr, "broker: worker: request %lld: got %zu bytes, want one frame of %lld\n",
				w->served, n, w->size);
			break;
		}
		/* The reply is the request itself. */
		if (zmq_msg_send(&msg, s, 0) < 0) {
			fail("zmq_msg_send");
			break;
		}
		w->served++;
	}
	zmq_msg_close(&msg);
	zmq_close(s);
	return NULL;
}

static int run_workers(void *ctx, const char *endpoint, long long size, long long workers)
{
	struct worker ws[MAX_PEERS];
	pthread_t th[MAX_PEERS];
	for (long long i = 0; i < workers; i++) {
		ws[i] = (struct worker){.ctx = ctx, .endpoint = endpoint, .size = size};
		if (pthread_create(&th[i], NULL, worker_main, &ws[i]) != 0) {
			fprintf(stderr, "broker: pthread_create failed\n");
			return 1;
		}
	}
	long long served = 0;
	int failed = 0;
	for (long long i = 0; i < workers; i++) {
		pthread_join(th[i], NULL);
		served += ws[i].served;
		failed |= ws[i].failed;
	}
	if (failed)
		return 1;
	printf("{\"role\":\"workers\",\"workers\":%lld,\"served\":%lld}\n", workers, served);
	fflush(stdout);
	return 0;
}

struct client {
	void *ctx;
	const char *endpoint;
	const char *payload;
	long long size;
	long long share;
	long long window;
	pthread_barrier_t *ready;
	int failed;
};

/* Makes n requests on s, keeping up to window unanswered, and checks every
 * reply. */
static int requests(void *s, const char *payload, long long size, long long n, long long window)
{
	long long sent = 0;
	zmq_msg_t msg;
	zmq_msg_init(&msg);
	for (; sent < n && sent < window; sent++) {
		if (zmq_send(s, "", 0, ZMQ_SNDMORE) < 0 || zmq_send(s, payload, (size_t)size, 0) < 0)
			return fail("zmq_send");
	}
	for (long long i = 0; i < n; i++) {
		if (zmq_msg_recv(&msg, s, 0) < 0 || !zmq_msg_more(&msg) || zmq_msg_size(&msg) != 0)
			goto bad;
		if (zmq_msg_recv(&msg, s, 0) < 0 || zmq_msg_more(&msg) || (long long)zmq_msg_size(&msg) != size)
			goto bad;
		if (sent < n) {
			if (zmq_send(s, "", 0, ZMQ_SNDMORE) < 0 || zmq_send(s, payload, (size_t)size, 0) < 0)
				return fail("zmq_send");
			sent++;
		}
		continue;
	bad:
		fprintf(stderr, "broker: client: reply %lld of %lld: got something other than a delimiter and %lld bytes (%s)\n",
			i + 1, n, size, zmq_strerror(zmq_errno()));
		zmq_msg_close(&msg);
		return 1;
	}
	zmq_msg_close(&msg);
	return 0;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	c->failed = 1;
	void *s = zmq_socket(c->ctx, ZMQ_DEALER);
	int ok = s != NULL && zmq_connect(s, c->endpoint) == 0;
	if (!ok)
		fail("client socket");
	/* The untimed request: connected, first buffers. */
	ok = ok && requests(s, c->payload, c->size, 1, 1) == 0;
	/* Every thread reaches the barrier, failed or not, so none waits forever. */
	pthread_barrier_wait(c->ready);
	ok = ok && requests(s, c->payload, c->size, c->share, c->window) == 0;
	c->failed = !ok;
	if (s != NULL)
		zmq_close(s);
	return NULL;
}

static int run_clients(void *ctx, const char *endpoint, const char *control_ep, long long size, long long count,
		       long long clients, long long window)
{
	char *payload = malloc((size_t)size);
	if (payload == NULL) {
		fprintf(stderr, "broker: out of memory\n");
		return 1;
	}
	memset(payload, 'w', (size_t)size);
	struct client cs[MAX_PEERS];
	pthread_t th[MAX_PEERS];
	/* The clients and this thread: it starts the clock when all are ready. */
	pthread_barrier_t ready;
	pthread_barrier_init(&ready, NULL, (unsigned)clients + 1);
	for (long long i = 0; i < clients; i++) {
		long long share = count / clients + (i < count % clients ? 1 : 0);
		cs[i] = (struct client){.ctx = ctx, .endpoint = endpoint, .payload = payload, .size = size,
					.share = share, .window = window, .ready = &ready};
		if (pthread_create(&th[i], NULL, client_main, &cs[i]) != 0) {
			fprintf(stderr, "broker: pthread_create failed\n");
			return 1;
		}
	}
	pthread_barrier_wait(&ready);
	double start = now_seconds();
	int failed = 0;
	for (long long i = 0; i < clients; i++) {
		pthread_join(th[i], NULL);
		failed |= cs[i].failed;
	}
	double seconds = now_seconds() - start;
	pthread_barrier_destroy(&ready);
	free(payload);
	if (failed)
		return 1;
	printf("{\"role\":\"clients\",\"size\":%lld,\"count\":%lld,\"clients\":%lld,\"window\":%lld,\"seconds\":%.9f}\n",
	       size, count, clients, window, seconds);
	fflush(stdout);

	void *control = zmq_socket(ctx, ZMQ_PUSH);
	if (control == NULL || zmq_connect(control, control_ep) != 0)
		return fail("control socket");
	if (zmq_send(control, "TERMINATE", 9, 0) < 0)
		return fail("zmq_send TERMINATE");
	/* Default linger (infinite): zmq_ctx_term waits until it is delivered. */
	zmq_close(control);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: broker broker FRONTEND BACKEND CONTROL WORKERS | broker workers BACKEND SIZE WORKERS |\n"
			"       broker clients FRONTEND CONTROL SIZE COUNT CLIENTS WINDOW | broker version\n"
			"  SIZE 1 to %lld, COUNT at least 1, CLIENTS and WORKERS 1 to %d, WINDOW at least 1\n",
		256LL << 20, MAX_PEERS);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "version") == 0) {
		int major, minor, patch;
		zmq_version(&major, &minor, &patch);
		printf("%d.%d.%d\n", major, minor, patch);
		return 0;
	}
	long long size = 0, count = 0, clients = 0, workers = 0, window = 0;
	const char *role = argc >= 2 ? argv[1] : "";
	if (strcmp(role, "broker") == 0) {
		if (argc != 6 || parse_count(argv[5], 1, MAX_PEERS, &workers) != 0)
			return usage();
	} else if (strcmp(role, "workers") == 0) {
		if (argc != 5 || parse_count(argv[3], 1, 256LL << 20, &size) != 0 ||
		    parse_count(argv[4], 1, MAX_PEERS, &workers) != 0)
			return usage();
	} else if (strcmp(role, "clients") == 0) {
		if (argc != 8 || parse_count(argv[4], 1, 256LL << 20, &size) != 0 ||
		    parse_count(argv[6], 1, MAX_PEERS, &clients) != 0 ||
		    parse_count(argv[5], 1, 1LL << 50, &count) != 0 || parse_count(argv[7], 1, 1LL << 30, &window) != 0)
			return usage();
	} else {
		return usage();
	}

	void *ctx = zmq_ctx_new();
	if (ctx == NULL)
		return fail("zmq_ctx_new");
	int rc;
	if (strcmp(role, "broker") == 0)
		rc = run_broker(ctx, argv[2], argv[3], argv[4], workers);
	else if (strcmp(role, "workers") == 0)
		rc = run_workers(ctx, argv[2], size, workers);
	else
		rc = run_clients(ctx, argv[2], argv[3], size, count, clients, window);
	if (rc == 0 && zmq_ctx_term(ctx) != 0)
		return fail("zmq_ctx_term");
	return rc;
}
