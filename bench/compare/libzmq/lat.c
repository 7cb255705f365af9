/*
 * lat: one side of a REQ/REP round-trip latency run against libzmq.
 *
 *   lat rep ENDPOINT SIZE COUNT WARMUP  bind a REP, echo WARMUP+COUNT requests
 *                                       of SIZE bytes, then take the client's
 *                                       goodbye request (not answered) and exit
 *   lat req ENDPOINT SIZE COUNT WARMUP  connect a REQ, make WARMUP untimed round
 *                                       trips, then COUNT timed ones, print
 *                                       {"pattern":"reqrep","size":..,"count":..,
 *                                        "warmup":..,"seconds":..,"rtt_mean_us":..,
 *                                        "rtt_p50_us":..,"rtt_p99_us":..,
 *                                        "rtt_min_us":..,"rtt_max_us":..}
 *   lat version                         print the libzmq version, e.g. 4.3.4
 *
 * Each round trip is timed on its own with CLOCK_MONOTONIC, from just before
 * the request is sent to just after the whole reply is received. Percentiles
 * are nearest-rank: the smallest time that at least P% of the round trips
 * did not exceed. The goodbye request tells the server that every reply has
 * arrived, so neither side closes while a message is still on its way.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

/* Bounds the per-round-trip array: 10^7 round trips are 80 MB. */
#define MAX_COUNT 10000000LL

static int fail(const char *what)
{
	fprintf(stderr, "lat: %s: %s\n", what, zmq_strerror(zmq_errno()));
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

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Nearest rank over sorted values: index ceil(pct*n/100)-1, in integers. */
static int64_t percentile(const int64_t *sorted, long long n, long long pct)
{
	long long rank = (pct * n + 99) / 100;
	if (rank < 1)
		rank = 1;
	return sorted[rank - 1];
}

static int run_rep(void *ctx, const char *endpoint, long long size, long long total)
{
	void *s = zmq_socket(ctx, ZMQ_REP);
	if (s == NULL)
		return fail("zmq_socket");
	if (zmq_bind(s, endpoint) != 0)
		return fail("zmq_bind");

	zmq_msg_t msg;
	zmq_msg_init(&msg);
	for (long long i = 0; i < total; i++) {
		if (zmq_msg_recv(&msg, s, 0) < 0)
			return fail("zmq_msg_recv");
		if ((long long)zmq_msg_size(&msg) != size) {
			fprintf(stderr, "lat: request %lld: got %zu bytes, want %lld\n",
				i, zmq_msg_size(&msg), size);
			return 1;
		}
		/* Echo the request itself: zmq_msg_send takes it over. */
		if (zmq_msg_send(&msg, s, 0) < 0)
			return fail("zmq_msg_send");
	}
	/* The goodbye: every reply has reached the client. */
	if (zmq_msg_recv(&msg, s, 0) < 0)
		return fail("zmq_msg_recv goodbye");
	zmq_msg_close(&msg);
	zmq_close(s);
	return 0;
}

/* One round trip; returns 0, or 1 after printing why not. */
static int round_trip(void *s, const char *buf, long long size, zmq_msg_t *reply, long long i)
{
	if (zmq_send(s, buf, (size_t)size, 0) < 0)
		return fail("zmq_send");
	if (zmq_msg_recv(reply, s, 0) < 0)
		return fail("zmq_msg_recv");
	if ((long long)zmq_msg_size(reply) != size) {
		fprintf(stderr, "lat: reply %lld: got %zu bytes, want %lld\n", i, zmq_msg_size(reply), size);
		return 1;
	}
	return 0;
}

static int run_req(void *ctx, const char *endpoint, long long size, long long count, long long warmup)
{
	int64_t *rtt = malloc((size_t)count * sizeof *rtt);
	char *buf = malloc(size > 0 ? (size_t)size : 1);
	if (rtt == NULL || buf == NULL) {
		fprintf(stderr, "lat: out of memory for %lld round trips\n", count);
		return 1;
	}
	memset(buf, 'w', size > 0 ? (size_t)size : 1);

	void *s = zmq_socket(ctx, ZMQ_REQ);
	if (s == NULL)
		return fail("zmq_socket");
	/* Connecting before the server has bound is fine: libzmq retries. */
	if (zmq_connect(s, endpoint) != 0)
		return fail("zmq_connect");

	zmq_msg_t reply;
	zmq_msg_init(&reply);
	for (long long i = 0; i < warmup; i++)
		if (round_trip(s, buf, size, &reply, i) != 0)
			return 1;
	int64_t start = now_ns();
	for (long long i = 0; i < count; i++) {
		int64_t t0 = now_ns();
		if (round_trip(s, buf, size, &reply, warmup + i) != 0)
			return 1;
		rtt[i] = now_ns() - t0;
	}
	double seconds = (double)(now_ns() - start) / 1e9;
	zmq_msg_close(&reply);
	/* One byte, like the zmq4 peer, which cannot send an empty goodbye safely. */
	if (zmq_send(s, ".", 1, 0) < 0)
		return fail("zmq_send goodbye");

	double sum = 0;
	for (long long i = 0; i < count; i++)
		sum += (double)rtt[i];
	qsort(rtt, (size_t)count, sizeof *rtt, cmp_i64);
	printf("{\"pattern\":\"reqrep\",\"size\":%lld,\"count\":%lld,\"warmup\":%lld,\"seconds\":%.9f,"
	       "\"rtt_mean_us\":%.3f,\"rtt_p50_us\":%.3f,\"rtt_p99_us\":%.3f,\"rtt_min_us\":%.3f,\"rtt_max_us\":%.3f}\n",
	       size, count, warmup, seconds, sum / (double)count / 1e3,
	       (double)percentile(rtt, count, 50) / 1e3, (double)percentile(rtt, count, 99) / 1e3,
	       (double)rtt[0] / 1e3, (double)rtt[count - 1] / 1e3);
	fflush(stdout);
	free(rtt);
	free(buf);
	/* Default linger (infinite): zmq_ctx_term waits until the goodbye is out. */
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
	long long size, count, warmup;
	if (argc != 6 || parse_count(argv[3], 0, 256LL << 20, &size) != 0 ||
	    parse_count(argv[4], 1, MAX_COUNT, &count) != 0 || parse_count(argv[5], 0, MAX_COUNT, &warmup) != 0 ||
	    (strcmp(argv[1], "rep") != 0 && strcmp(argv[1], "req") != 0)) {
		fprintf(stderr, "usage: lat rep|req ENDPOINT SIZE COUNT WARMUP | lat version\n"
				"  SIZE 0 to %lld, COUNT 1 to %lld, WARMUP 0 to %lld\n",
			256LL << 20, MAX_COUNT, MAX_COUNT);
		return 2;
	}

	void *ctx = zmq_ctx_new();
	if (ctx == NULL)
		return fail("zmq_ctx_new");
	int rc = strcmp(argv[1], "rep") == 0 ? run_rep(ctx, argv[2], size, warmup + count)
					     : run_req(ctx, argv[2], size, count, warmup);
	if (rc == 0 && zmq_ctx_term(ctx) != 0)
		return fail("zmq_ctx_term");
	return rc;
}
