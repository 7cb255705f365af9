/*
 * pubsub: one side of a PUB -> N SUB fan-out run against libzmq.
 *
 *   pubsub pub ENDPOINT SIZE COUNT SUBS MATCH [nodrop]
 *       bind an XPUB, wait until SUBS subscribers have subscribed, publish
 *       COUNT messages of SIZE bytes (MATCH percent of them start with the
 *       subscribed topic), then repeat the end marker until every subscriber
 *       has left; print
 *       {"role":"pub","size":..,"count":..,"subs":..,"match":..,"nodrop":..,
 *        "expected":..,"seconds":..,"msgs_per_sec":..,"end_markers":..}
 *   pubsub sub ENDPOINT SIZE ID
 *       connect a SUB, subscribe to the topic and to its own id topic, count
 *       data messages until the end marker; print
 *       {"role":"sub","id":..,"size":..,"received":..,"seconds":..,"msgs_per_sec":..}
 *   pubsub version
 *       print the libzmq version, e.g. 4.3.4
 *
 * Data messages are the topic "tick" (matching) or "tock" (not matching)
 * followed by 'w' bytes up to SIZE. Of the first n messages
 * ceil(n*MATCH/100) match, spread evenly and starting with the first: with
 * MATCH 50 messages 0, 2, 4... match, ceil(COUNT/2) of them. The end marker is "tick" and one 0 byte, which no data message is.
 *
 * The publisher is an XPUB only so that it can see subscriptions arrive (no
 * slow joiner) and leave; it sends exactly as a PUB does. Every subscriber
 * also subscribes to "#ID", a topic no data message matches: XPUB reports a
 * prefix only when its first holder subscribes and its last one leaves, so
 * one unique topic per subscriber lets the publisher count them both ways.
 *
 * Both sides keep libzmq's default high-water marks (1000). By default
 * (XPUB_NODROP off) the publisher drops a message for a subscriber whose
 * queue is full, as a PUB does. With "nodrop" it sets ZMQ_XPUB_NODROP, so a
 * send that would drop fails with EAGAIN instead, and the blocking zmq_send
 * retries it inside libzmq until every subscriber has room: lossless, at the
 * pace of the slowest subscriber.
 *
 * A subscriber's rate is its received messages over the time from its first
 * data message to its last; the publisher's is COUNT over the time from just
 * before its first send to just after its last.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define TOPIC "tick"
#define OTHER "tock"
#define TOPIC_LEN 4
#define MAX_SUBS 1024
/* Bounds, in seconds, on waiting for subscribers to arrive or leave, and on
 * a subscriber's wait for its next message. */
#define JOIN_SECONDS 30
#define LEAVE_SECONDS 30
#define IDLE_MS 60000

static int fail(const char *what)
{
	fprintf(stderr, "pubsub: %s: %s\n", what, zmq_strerror(zmq_errno()));
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

/* ceil(n*match/100): how many of the first n messages match. */
static long long matched(long long n, long long match)
{
	return (n * match + 99) / 100;
}

static int matches(long long i, long long match)
{
	return matched(i + 1, match) > matched(i, match);
}

/*
 * Takes every subscription message waiting on the XPUB, waiting up to
 * wait_ms for the first. *present counts the subscribers' "#ID" topics that
 * are held now; seen[id] remembers which are, so a repeat cannot count twice.
 */
static int take_subscriptions(void *s, long wait_ms, long long subs, unsigned char *seen, long long *present)
{
	zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
	if (zmq_poll(&item, 1, wait_ms) < 0)
		return fail("zmq_poll");
	for (;;) {
		char buf[64];
		int n = zmq_recv(s, buf, sizeof buf - 1, ZMQ_DONTWAIT);
		if (n < 0) {
			if (zmq_errno() == EAGAIN)
				return 0;
			return fail("zmq_recv subscription");
		}
		if (n > (int)sizeof buf - 1)
			continue; /* not one of ours */
		buf[n] = '\0';
		if (n < 3 || buf[1] != '#')
			continue; /* the data topic */
		long long id;
		if (parse_count(buf + 2, 0, subs - 1, &id) != 0)
			continue;
		if (buf[0] == 1 && !seen[id]) {
			seen[id] = 1;
			(*present)++;
		} else if (buf[0] == 0 && seen[id]) {
			seen[id] = 0;
			(*present)--;
		}
	}
}

static int run_pub(void *ctx, const char *endpoint, long long size, long long count, long long subs,
		   long long match, int nodrop)
{
	char *hit = malloc((size_t)size), *miss = malloc((size_t)size);
	unsigned char *seen = calloc((size_t)subs, 1);
	if (hit == NULL || miss == NULL || seen == NULL) {
		fprintf(stderr, "pubsub: out of memory\n");
		return 1;
	}
	memset(hit, 'w', (size_t)size);
	memset(miss, 'w', (size_t)size);
	memcpy(hit, TOPIC, TOPIC_LEN);
	memcpy(miss, OTHER, TOPIC_LEN);

	void *s = zmq_socket(ctx, ZMQ_XPUB);
	if (s == NULL)
		return fail("zmq_socket");
	if (zmq_setsockopt(s, ZMQ_XPUB_NODROP, &nodrop, sizeof nodrop) != 0)
		return fail("zmq_setsockopt ZMQ_XPUB_NODROP");
	if (zmq_bind(s, endpoint) != 0)
		return fail("zmq_bind");

	long long present = 0;
	double deadline = now_seconds() + JOIN_SECONDS;
	while (present < subs) {
		if (now_seconds() > deadline) {
			fprintf(stderr, "pubsub: got %lld of %lld subscribers after %d s, want all\n",
				present, subs, JOIN_SECONDS);
			return 1;
		}
		if (take_subscriptions(s, 100, subs, seen, &present) != 0)
			return 1;
	}

	double start = now_seconds();
	for (long long i = 0; i < count; i++) {
		/* zmq_send copies the buffer into a fresh message, as an
		 * application's send would. */
		if (zmq_send(s, matches(i, match) ? hit : miss, (size_t)size, 0) < 0)
			return fail("zmq_send");
	}
	double seconds = now_seconds() - start;

	/* A marker can be dropped at a full queue like any message: repeat it
	 * until every subscriber has had one and left. */
	long long markers = 0;
	const char marker[TOPIC_LEN + 1] = TOPIC;
	deadline = now_seconds() + LEAVE_SECONDS;
	while (present > 0) {
		if (now_seconds() > deadline) {
			fprintf(stderr, "pubsub: got %lld of %lld subscribers still there %d s after the last message, want none\n",
				present, subs, LEAVE_SECONDS);
			return 1;
		}
		if (zmq_send(s, marker, sizeof marker, ZMQ_DONTWAIT) >= 0)
			markers++;
		else if (zmq_errno() != EAGAIN)
			return fail("zmq_send end marker");
		if (take_subscriptions(s, 1, subs, seen, &present) != 0)
			return 1;
	}

	printf("{\"role\":\"pub\",\"size\":%lld,\"count\":%lld,\"subs\":%lld,\"match\":%lld,\"nodrop\":%s,"
	       "\"expected\":%lld,\"seconds\":%.9f,\"msgs_per_sec\":%.3f,\"end_markers\":%lld}\n",
	       size, count, subs, match, nodrop ? "true" : "false", matched(count, match), seconds,
	       seconds > 0 ? (double)count / seconds : 0.0, markers);
	fflush(stdout);
	/* Every subscriber is gone: nothing queued is worth waiting for. */
	int zero = 0;
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
	zmq_close(s);
	free(hit);
	free(miss);
	free(seen);
	return 0;
}

static int run_sub(void *ctx, const char *endpoint, long long size, long long id)
{
	void *s = zmq_socket(ctx, ZMQ_SUB);
	if (s == NULL)
		return fail("zmq_socket");
	int idle = IDLE_MS;
	if (zmq_setsockopt(s, ZMQ_RCVTIMEO, &idle, sizeof idle) != 0)
		return fail("zmq_setsockopt ZMQ_RCVTIMEO");
	/* Connecting before the publisher has bound is fine: libzmq retries. */
	if (zmq_connect(s, endpoint) != 0)
		return fail("zmq_connect");
	/* The data topic first: once the publisher sees "#ID" it has both. */
	char idtopic[32];
	int idlen = snprintf(idtopic, sizeof idtopic, "#%lld", id);
	if (zmq_setsockopt(s, ZMQ_SUBSCRIBE, TOPIC, TOPIC_LEN) != 0 ||
	    zmq_setsockopt(s, ZMQ_SUBSCRIBE, idtopic, (size_t)idlen) != 0)
		return fail("zmq_setsockopt ZMQ_SUBSCRIBE");

	zmq_msg_t msg;
	zmq_msg_init(&msg);
	long long received = 0;
	double first = 0, last = 0;
	for (;;) {
		if (zmq_msg_recv(&msg, s, 0) < 0)
			return fail(zmq_errno() == EAGAIN ? "no message for 60 s" : "zmq_msg_recv");
		size_t n = zmq_msg_size(&msg);
		const char *data = zmq_msg_data(&msg);
		if (n == TOPIC_LEN + 1 && data[TOPIC_LEN] == '\0' && memcmp(data, TOPIC, TOPIC_LEN) == 0)
			break;
		if ((long long)n != size || memcmp(data, TOPIC, TOPIC_LEN) != 0) {
			fprintf(stderr, "pubsub: message %lld: got %zu bytes starting %.4s, want %lld starting %s\n",
				received, n, n >= TOPIC_LEN ? data : "?", size, TOPIC);
			return 1;
		}
		last = now_seconds();
		if (received == 0)
			first = last;
		received++;
	}
	zmq_msg_close(&msg);
	double seconds = last - first;
	printf("{\"role\":\"sub\",\"id\":%lld,\"size\":%lld,\"received\":%lld,\"seconds\":%.9f,\"msgs_per_sec\":%.3f}\n",
	       id, size, received, seconds, seconds > 0 ? (double)received / seconds : 0.0);
	fflush(stdout);
	/* Markers may still be queued for us; they are not wanted. */
	int zero = 0;
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
	zmq_close(s);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: pubsub pub ENDPOINT SIZE COUNT SUBS MATCH [nodrop] | pubsub sub ENDPOINT SIZE ID | pubsub version\n"
			"  SIZE %d to %lld, COUNT at least 1, SUBS 1 to %d, MATCH 1 to 100, ID 0 to SUBS-1\n",
		TOPIC_LEN, 256LL << 20, MAX_SUBS);
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
	long long size, count, subs, match, id;
	int pub = argc >= 2 && strcmp(argv[1], "pub") == 0;
	int sub = argc >= 2 && strcmp(argv[1], "sub") == 0;
	int nodrop = pub && argc == 8 && strcmp(argv[7], "nodrop") == 0;
	if (pub) {
		if ((argc != 7 && !nodrop) || parse_count(argv[3], TOPIC_LEN, 256LL << 20, &size) != 0 ||
		    parse_count(argv[4], 1, INT64_MAX / 100, &count) != 0 ||
		    parse_count(argv[5], 1, MAX_SUBS, &subs) != 0 || parse_count(argv[6], 1, 100, &match) != 0)
			return usage();
	} else if (sub) {
		if (argc != 5 || parse_count(argv[3], TOPIC_LEN, 256LL << 20, &size) != 0 ||
		    parse_count(argv[4], 0, MAX_SUBS - 1, &id) != 0)
			return usage();
	} else {
		return usage();
	}

	void *ctx = zmq_ctx_new();
	if (ctx == NULL)
		return fail("zmq_ctx_new");
	int rc = pub ? run_pub(ctx, argv[2], size, count, subs, match, nodrop) : run_sub(ctx, argv[2], size, id);
	if (rc == 0 && zmq_ctx_term(ctx) != 0)
		return fail("zmq_ctx_term");
	return rc;
}
