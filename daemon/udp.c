/* udp.c: UDP workers: SO_REUSEPORT sockets, recvmmsg/sendmmsg, RCU readers. */
#include "config.h"

#include "daemon/udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
/* The reader side's online/offline and dereference inline (each is under
 * ten lines, which liburcu's header notes LGPL 2.1 section 5 allows): as
 * library calls they cost a call and a TLS lookup on every batch. */
#define _LGPL_SOURCE
#include <urcu-qsbr.h>

#include "daemon/conf.h"
#include "daemon/dataset.h"
#include "daemon/server.h"
#include "dns/answer.h"
#include "dns/log.h"
#include "dns/packet.h"
#include "dns/xalloc.h"

#define BATCH 32   /* datagrams per recvmmsg() */
#define SLOT  4096 /* largest query read, largest UDP answer */
/* Slots lie a cache line more than SLOT apart: 4 KB apart, every slot's
 * first octets would fall in the same L1 cache set and evict each other. */
#define STRIDE (SLOT + 64)

/* Room for either pktinfo kind. */
union ctrl {
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct cmsghdr align;
};

struct worker {
	pthread_t thread;
	bool started;
	struct udp_workers *all;
	int fd; /* this thread's own SO_REUSEPORT socket */
	struct answer_stats stats;
	/* batch buffers */
	struct mmsghdr in_msgs[BATCH], out_msgs[BATCH];
	struct iovec in_iov[BATCH], out_iov[BATCH];
	struct sockaddr_storage from[BATCH];
	union ctrl ctrl[BATCH];
	uint8_t in[BATCH][STRIDE];
	uint8_t out[BATCH][STRIDE];
};

struct udp_workers {
	struct worker **w;
	unsigned n;        /* threads allocated (those started: ->started) */
	unsigned per_addr; /* threads per listen address */
	atomic_bool stop;
	struct dataset *const *live;
};

/* recvmmsg() shrank the lengths of the n slots it filled: restore them. */
static void reset_reads(struct worker *w, int n)
{
	for (int i = 0; i < n; i++) {
		struct msghdr *m = &w->in_msgs[i].msg_hdr;
		m->msg_namelen = sizeof(w->from[i]);
		m->msg_controllen = sizeof(w->ctrl[i].buf);
		m->msg_flags = 0;
	}
}

/* Point every receive slot at its buffers (once per worker). */
static void prepare_reads(struct worker *w)
{
	for (int i = 0; i < BATCH; i++) {
		w->in_iov[i].iov_base = w->in[i];
		w->in_iov[i].iov_len = SLOT;
		struct msghdr *m = &w->in_msgs[i].msg_hdr;
		m->msg_name = &w->from[i];
		m->msg_iov = &w->in_iov[i];
		m->msg_iovlen = 1;
		m->msg_control = w->ctrl[i].buf;
		/* Answer slot i always sends out[i]. */
		w->out_iov[i].iov_base = w->out[i];
		w->out_msgs[i].msg_hdr.msg_iov = &w->out_iov[i];
		w->out_msgs[i].msg_hdr.msg_iovlen = 1;
		w->out_msgs[i].msg_hdr.msg_flags = 0;
	}
	reset_reads(w, BATCH);
}

/* Answer n received datagrams into the out slots; returns how many to send. */
static int answer_batch(struct worker *w, const struct dataset *ds, int n)
{
	int k = 0;
	for (int i = 0; i < n; i++) {
		struct msghdr *in = &w->in_msgs[i].msg_hdr;
		if (in->msg_flags & MSG_TRUNC) {
			w->stats.dropped++; /* larger than any query we take */
			continue;
		}
		size_t len = answer_query(&ds->answer, w->in[i], w->in_msgs[i].msg_len,
					  (const struct sockaddr *)&w->from[i], w->out[k],
					  ANSWER_UDP, &w->stats);
		if (len == 0)
			continue;
		struct msghdr *out = &w->out_msgs[k].msg_hdr;
		w->out_iov[k].iov_len = len;
		out->msg_name = &w->from[i];
		out->msg_namelen = in->msg_namelen;
		/* Reply from the address the query came to (pktinfo echoed). */
		struct cmsghdr *c = CMSG_FIRSTHDR(in);
		if (c != NULL && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
			((struct in_pktinfo *)CMSG_DATA(c))->ipi_ifindex = 0;
		out->msg_control = c != NULL ? in->msg_control : NULL;
		out->msg_controllen = c != NULL ? in->msg_controllen : 0;
		k++;
	}
	return k;
}

/*
 * The datagram calls go through syscall(2): glibc's recvmmsg() and
 * sendmmsg() are thread cancellation points and pay for switching
 * asynchronous cancellation on and off around every call, and these
 * threads are never cancelled (they are stopped with a flag).
 */
static int recv_batch(int fd, struct mmsghdr *m, unsigned n)
{
	return (int)syscall(SYS_recvmmsg, fd, m, n, MSG_WAITFORONE, NULL);
}

static int send_batch(int fd, struct mmsghdr *m, unsigned n)
{
	/* The socket blocks for receiving; a send must not wait for room in
	 * a full buffer (a UDP reply that does not fit is dropped). */
	return (int)syscall(SYS_sendmmsg, fd, m, n, MSG_DONTWAIT);
}

/*
 * Send the k answers.  sendmmsg() stops at the first one the kernel
 * refuses.  One larger than the interface MTU (EMSGSIZE: the sockets set
 * DF and never fragment, RFC 9715 3.1) is cut to a TC answer and sent
 * again, so the client retries over TCP; any other refused one is dropped
 * alone; a full socket buffer drops the rest, as UDP may.  A cut answer
 * counts as truncated once it has gone out, and as dropped otherwise.
 */
static void send_replies(struct worker *w, int k)
{
	int cut_at = -1; /* out[cut_at] was cut, counted truncated, not sent yet */
	for (int sent = 0; sent < k;) {
		int r = send_batch(w->fd, w->out_msgs + sent, (unsigned)(k - sent));
		if (r > 0) {
			sent += r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		/* Not sent after all: the cut answer counts as dropped only. */
		w->stats.truncated -= cut_at == sent;
		if (r == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
			w->stats.dropped += (uint64_t)(k - sent);
			return;
		}
		struct iovec *iov = &w->out_iov[sent];
		size_t cut = 0;
		if (errno == EMSGSIZE && cut_at != sent)
			cut = pkt_cut_to_tc(iov->iov_base, iov->iov_len);
		if (cut != 0 && cut < iov->iov_len) {
			iov->iov_len = cut;
			w->stats.truncated++;
			cut_at = sent;
		} else {
			w->stats.dropped++;
			sent++;
		}
	}
}

/*
 * One thread per socket: it blocks in recvmmsg() until at least one
 * datagram is there (MSG_WAITFORONE then takes whatever else is queued, up
 * to BATCH), answers the batch and sends it with one sendmmsg().  No
 * timeout is armed for the wait: udp_stop() wakes it with shutdown().
 * While blocked the thread is an offline RCU reader, so a reload
 * never waits for it; it comes online only to answer a batch, and going
 * offline again is its quiescent state.
 */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	prepare_reads(w);
	rcu_register_thread();
	rcu_thread_offline();
	while (!atomic_load_explicit(&w->all->stop, memory_order_relaxed)) {
		int n = recv_batch(w->fd, w->in_msgs, BATCH);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_msg(LOG_LEVEL_WARNING, "server: udp: recvmmsg: %s",
					strerror(errno));
			continue;
		}
		rcu_thread_online();
		/* The dataset stays valid until this thread goes offline:
		 * nothing is freed under it. */
		const struct dataset *ds = rcu_dereference(*w->all->live);
		if (ds != NULL) {
			send_replies(w, answer_batch(w, ds, n));
		} else {
			/* Queries before the first dataset is published (the
			 * sockets open first): nothing to answer from yet. */
			w->stats.dropped += (uint64_t)n;
		}
		rcu_thread_offline();
		reset_reads(w, n);
	}
	rcu_thread_online();
	rcu_unregister_thread();
	return NULL;
}

unsigned udp_workers_per_address(unsigned configured)
{
	if (configured)
		return configured;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

struct udp_workers *udp_start(const struct conf *conf, unsigned n, struct dataset *const *live)
{
	struct udp_workers *all = xcalloc(1, sizeof(*all));
	all->per_addr = udp_workers_per_address(n);
	all->n = all->per_addr * (unsigned)conf->n_listen;
	all->live = live;
	atomic_init(&all->stop, false);
	all->w = xcalloc(all->n, sizeof(*all->w));
	for (unsigned i = 0; i < all->n; i++) {
		const struct conf_listen *l = &conf->listen[i / all->per_addr];
		struct worker *w = xcalloc(1, sizeof(*w));
		all->w[i] = w;
		w->all = all;
		w->fd = server_socket(l, SOCK_DGRAM); /* blocking */
		if (w->fd < 0) {
			log_msg(LOG_LEVEL_ERR, "server: listen %s: udp: %s", l->text,
				strerror(errno));
			udp_stop(all);
			return NULL;
		}
	}
	for (unsigned i = 0; i < all->n; i++) {
		if (pthread_create(&all->w[i]->thread, NULL, worker_main, all->w[i]) != 0) {
			log_msg(LOG_LEVEL_ERR, "server: cannot start UDP worker %u", i);
			udp_stop(all);
			return NULL;
		}
		all->w[i]->started = true;
	}
	return all;
}

unsigned udp_count(const struct udp_workers *w)
{
	return w->per_addr;
}

void udp_stats_add(const struct udp_workers *all, struct answer_stats *sum)
{
	/* Plain reads of counters another thread increments: a value may be
	 * a moment old, never torn on the 64-bit targets we build for. */
	for (unsigned i = 0; i < all->n; i++) {
		const uint64_t *src = (const uint64_t *)&all->w[i]->stats;
		uint64_t *dst = (uint64_t *)sum;
		for (size_t k = 0; k < sizeof(*sum) / sizeof(uint64_t); k++)
			dst[k] += src[k];
	}
}

void udp_stop(struct udp_workers *all)
{
	if (all == NULL)
		return;
	atomic_store(&all->stop, true);
	/* Wake every thread blocked in recvmmsg(): on Linux, shutting down
	 * the read side of a UDP socket (bound, not connected: the call
	 * itself says ENOTCONN) still marks it and wakes its readers, and
	 * every later receive returns at once, so a thread that had not yet
	 * gone to sleep does not either. */
	for (unsigned i = 0; i < all->n; i++)
		if (all->w[i] != NULL && all->w[i]->fd >= 0)
			(void)shutdown(all->w[i]->fd, SHUT_RD);
	for (unsigned i = 0; i < all->n; i++) {
		struct worker *w = all->w[i];
		if (w == NULL)
			continue;
		if (w->started)
			pthread_join(w->thread, NULL);
		if (w->fd >= 0)
			close(w->fd);
		free(w);
	}
	free(all->w);
	free(all);
}
