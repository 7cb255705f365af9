/*
 * thr: one side of a PUSH/PULL throughput run against libzmq.
 *
 *   thr recv ENDPOINT SIZE COUNT   bind a PULL, receive COUNT messages, print
 *                                  {"seconds":..,"count":..,"size":..}
 *   thr send ENDPOINT SIZE COUNT   connect a PUSH, send COUNT messages of SIZE
 *                                  bytes, close with the default linger
 *   thr version                    print the libzmq version, e.g. 4.3.4
 *
 * The receiver times from the first message to the last, so connection setup
 * and process start-up are not measured. Once the first message is in, a
 * receiver that waits IDLE_MS for the next one says how many arrived and
 * exits 3: libzmq does not guarantee delivery, and a sender that closed
 * and exited may have left the rest of the stream undelivered. Both sides keep libzmq's default
 * high-water marks (1000) so the comparison is with libzmq as users get it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define IDLE_MS 10000

static int fail(const char *what)
{
	fprintf(stderr, "thr: %s: %s\n", what, zmq_strerror(zmq_errno()));
	return 1;
}

static int parse_count(const char *s, long long min, long long *out)
{
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min)
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

static int run_recv(void *ctx, const char *endpoint, long long size, long long count)
{
	void *s = zmq_socket(ctx, ZMQ_PULL);
	if (s == NULL)
		return fail("zmq_socket");
	if (zmq_bind(s, endpoint) != 0)
		return fail("zmq_bind");

	zmq_msg_t msg;
	zmq_msg_init(&msg);
	double start = 0;
	for (long long i = 0; i < count; i++) {
		if (zmq_msg_recv(&msg, s, 0) < 0) {
			if (zmq_errno() == EAGAIN) {
				fprintf(stderr, "thr: received %lld of %lld messages, then none for %d s: the rest were lost\n",
					i, count, IDLE_MS / 1000);
				return 3;
			}
			return fail("zmq_msg_recv");
		}
		if (i == 0) {
			start = now_seconds();
			int idle = IDLE_MS;
			if (zmq_setsockopt(s, ZMQ_RCVTIMEO, &idle, sizeof idle) != 0)
				return fail("zmq_setsockopt ZMQ_RCVTIMEO");
		}
		if ((long long)zmq_msg_size(&msg) != size) {
			fprintf(stderr, "thr: message %lld: got %zu bytes, want %lld\n",
				i, zmq_msg_size(&msg), size);
			return 1;
		}
	}
	double elapsed = now_seconds() - start;
	zmq_msg_close(&msg);

	printf("{\"seconds\":%.9f,\"count\":%lld,\"size\":%lld}\n", elapsed, count, size);
	fflush(stdout);
	zmq_close(s);
	return 0;
}

static int run_send(void *ctx, const char *endpoint, long long size, long long count)
{
	void *s = zmq_socket(ctx, ZMQ_PUSH);
	if (s == NULL)
		return fail("zmq_socket");
	if (zmq_connect(s, endpoint) != 0)
		return fail("zmq_connect");

	for (long long i = 0; i < count; i++) {
		zmq_msg_t msg;
		/* A fresh message each time, as an application would send it. */
		if (zmq_msg_init_size(&msg, (size_t)size) != 0)
			return fail("zmq_msg_init_size");
		memset(zmq_msg_data(&msg), 'w', (size_t)size);
		if (zmq_msg_send(&msg, s, 0) < 0)
			return fail("zmq_msg_send");
	}
	/* Default linger (infinite): zmq_ctx_term waits until all are delivered. */
	zmq_close(s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "version") == 0) {
		int major, minor, patch;
		zmq_version(&major, &minor, &patch);
		printf("%d.%d.%d\n", major, minor, patch);
		return 0;
	}
	long long size, count;
	if (argc != 5 || parse_count(argv[3], 0, &size) != 0 || parse_count(argv[4], 1, &count) != 0 ||
	    (strcmp(argv[1], "recv") != 0 && strcmp(argv[1], "send") != 0)) {
		fprintf(stderr, "usage: thr recv|send ENDPOINT SIZE COUNT | thr version\n");
		return 2;
	}

	void *ctx = zmq_ctx_new();
	if (ctx == NULL)
		return fail("zmq_ctx_new");
	int rc = strcmp(argv[1], "recv") == 0 ? run_recv(ctx, argv[2], size, count)
					       : run_send(ctx, argv[2], size, count);
	if (rc == 0 && zmq_ctx_term(ctx) != 0)
		return fail("zmq_ctx_term");
	return rc;
}
