/* fuzz_util.c: what the libFuzzer targets share: quiet logs, temp files, a geo dataset, response checks. */
#include "config.h"

#include "fuzz/fuzz_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns/cookie.h"
#include "dns/log.h"
#include "dns/rrtype.h"
#include "dns/arena.h"
#include "geo/geo.h"
#include "zones/zload.h"

#define PATHS_MAX 8

static int report_fd = 2; /* the original stderr, kept past close_fd_mask */
static char tmp_dir[4096];
static char *paths[PATHS_MAX];
static size_t n_paths;

/* Abort with a message on the original stderr: libFuzzer then saves the
 * input and prints the stack. */
static void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fatal(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dprintf(report_fd, "fuzz: %s\n", msg);
	abort();
}

void fuzz_init(int *argc, char ***argv)
{
	log_set_level(LOG_LEVEL_ERR);
	int fd = dup(2);
	if (fd >= 0)
		report_fd = fd;
	if (getenv("GEODNSD_FUZZ_VERBOSE") != NULL)
		return;
	for (int i = 1; i < *argc; i++)
		if (strncmp((*argv)[i], "-close_fd_mask=", 15) == 0)
			return;
	/* libFuzzer parses flags after LLVMFuzzerInitialize, which may
	 * change argv; the new array lives as long as the process. */
	char **nv = calloc((size_t)*argc + 2, sizeof(*nv));
	if (nv == NULL)
		fatal("out of memory");
	memcpy(nv, *argv, (size_t)*argc * sizeof(*nv));
	nv[*argc] = "-close_fd_mask=2";
	*argc += 1;
	*argv = nv;
}

/* ---- temporary files ---------------------------------------------------- */

static void cleanup(void)
{
	for (size_t i = 0; i < n_paths; i++)
		unlink(paths[i]);
	if (tmp_dir[0] != '\0')
		rmdir(tmp_dir);
}

const char *fuzz_path(const char *name)
{
	if (tmp_dir[0] == '\0') {
		const char *t = getenv("TMPDIR");
		snprintf(tmp_dir, sizeof(tmp_dir), "%s/geodnsd-fuzz.XXXXXX",
			 t != NULL && t[0] != '\0' ? t : "/tmp");
		if (mkdtemp(tmp_dir) == NULL)
			fatal("mkdtemp %s: %s", tmp_dir, strerror(errno));
		atexit(cleanup);
	}
	for (size_t i = 0; i < n_paths; i++) {
		const char *base = strrchr(paths[i], '/') + 1;
		if (strcmp(base, name) == 0)
			return paths[i];
	}
	if (n_paths == PATHS_MAX)
		fatal("more than %d temporary files", PATHS_MAX);
	size_t len = strlen(tmp_dir) + strlen(name) + 2;
	char *p = malloc(len);
	if (p == NULL)
		fatal("out of memory");
	snprintf(p, len, "%s/%s", tmp_dir, name);
	paths[n_paths++] = p;
	return p;
}

void fuzz_write_file(const char *path, const void *data, size_t size)
{
	FILE *fp = fopen(path, "w");
	if (fp == NULL)
		fatal("%s: %s", path, strerror(errno));
	if ((size > 0 && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0)
		fatal("%s: write failed", path);
}

/* ---- geo data ----------------------------------------------------------- */

static void prefix(struct geo_prefix *p, const char *text, unsigned len)
{
	memset(p, 0, sizeof(*p));
	p->family = strchr(text, ':') != NULL ? 6 : 4;
	p->len = (uint8_t)len;
	if (inet_pton(p->family == 4 ? AF_INET : AF_INET6, text, p->addr) != 1)
		fatal("bad address %s", text);
}

static void *zalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (p == NULL)
		fatal("out of memory");
	return p;
}

static struct geo_list list(unsigned n, const uint16_t *dcs)
{
	struct geo_list l = { .dc = zalloc(n, sizeof(uint16_t)), .n = (uint16_t)n };
	memcpy(l.dc, dcs, n * sizeof(uint16_t));
	return l;
}

/* One datacenter entry of a service: addrs is a NULL-terminated list. */
static void service_dc(struct geo_service_dc *sd, uint16_t dc, const char *const *addrs)
{
	sd->dc = dc;
	while (addrs[sd->n_addrs] != NULL)
		sd->n_addrs++;
	sd->addrs = zalloc(sd->n_addrs, sizeof(*sd->addrs));
	for (size_t i = 0; i < sd->n_addrs; i++)
		prefix(&sd->addrs[i], addrs[i], strchr(addrs[i], ':') != NULL ? 128 : 32);
}

static struct geo_service *service(struct geo_conf *gc, const char *name, size_t n_dcs)
{
	struct geo_service *s = &gc->services[gc->n_services++];
	s->name = strdup(name);
	s->dcs = zalloc(n_dcs, sizeof(*s->dcs));
	s->n_dcs = n_dcs;
	s->up_min = 1;
	s->degraded_ttl_pct = 50;
	return s;
}

static const char *const FRA[] = { "192.0.2.10", "192.0.2.11", "2001:db8::10", NULL };
static const char *const IAD[] = { "198.51.100.10", "2001:db8:100::10", NULL };
static const char *const SIN[] = { "203.0.113.10", NULL };

static struct geo_conf *make_geo_conf(void)
{
	struct geo_conf *gc = zalloc(1, sizeof(*gc));
	static const struct {
		const char *name;
		double lat, lon;
	} dcs[] = { { "fra", 50.11, 8.68 }, { "iad", 38.95, -77.45 }, { "sin", 1.35, 103.99 } };
	gc->n_dcs = 3;
	gc->dcs = zalloc(3, sizeof(*gc->dcs));
	for (size_t i = 0; i < 3; i++) {
		gc->dcs[i].name = strdup(dcs[i].name);
		gc->dcs[i].lat = dcs[i].lat;
		gc->dcs[i].lon = dcs[i].lon;
	}

	gc->services = zalloc(4, sizeof(*gc->services));
	struct geo_service *s = service(gc, "web", 3);
	service_dc(&s->dcs[0], 0, FRA);
	service_dc(&s->dcs[1], 1, IAD);
	service_dc(&s->dcs[2], 2, SIN);
	s = service(gc, "down", 1);
	service_dc(&s->dcs[0], 2, SIN);
	s->all_down = GEO_ALL_DOWN_SERVFAIL;
	s = service(gc, "lr", 1);
	service_dc(&s->dcs[0], 2, SIN);
	s->all_down = GEO_ALL_DOWN_LAST_RESORT;
	s->n_last_resort = 2;
	s->last_resort = zalloc(2, sizeof(*s->last_resort));
	prefix(&s->last_resort[0], "192.0.2.99", 32);
	prefix(&s->last_resort[1], "2001:db8::99", 128);
	s->degraded_ttl_abs = true;
	s->degraded_ttl_s = 10;
	s = service(gc, "open", 1);
	service_dc(&s->dcs[0], 2, SIN);

	static const uint16_t iad[] = { 1 }, sin_fra[] = { 2, 0 }, def[] = { 2, 1, 0 };
	gc->n_nets = 2;
	gc->nets = zalloc(2, sizeof(*gc->nets));
	prefix(&gc->nets[0].net, "10.0.0.0", 8);
	gc->nets[0].dcs = list(1, iad);
	gc->nets[0].file = strdup("fuzz.yaml");
	gc->nets[0].line = 1;
	prefix(&gc->nets[1].net, "2001:db8:1::", 48);
	gc->nets[1].dcs = list(2, sin_fra);
	gc->nets[1].file = strdup("fuzz.yaml");
	gc->nets[1].line = 2;
	gc->default_order = list(3, def);
	return gc;
}

struct geo *fuzz_geo(void)
{
	static struct geo *g;
	static const _Atomic uint8_t addr_down = 0;
	static const _Atomic uint8_t dc_down = GEO_FORCE_DOWN;
	if (g != NULL)
		return g;
	struct diag d = { 0 };
	g = geo_build(make_geo_conf(), "fuzz.yaml", NULL, false, &d);
	if (g == NULL)
		fatal("geo_build failed (%u errors)", d.errors);
	geo_set_address_flag(g, 0, 0, 1, &addr_down, NULL); /* web: 192.0.2.11 */
	geo_set_dc_force(g, 2, &dc_down);                   /* sin */
	return g;
}

static const void *bind_service(void *ctx, const char *name, uint32_t ttl)
{
	static struct arena *bindings; /* lives as long as fuzz_geo()'s geo */
	struct geo *g = ctx;
	int i = geo_service_index(g, name);
	if (bindings == NULL)
		bindings = arena_new();
	return i < 0 ? NULL : geo_bind(bindings, i, ttl);
}

const struct zload_dyn *fuzz_zload_dyn(void)
{
	static struct zload_dyn dyn = { .bind = bind_service };
	dyn.ctx = fuzz_geo();
	return &dyn;
}

/* CH TXT [<service>.]status.geodnsd: one line per datacenter of each
 * service, from the geo health summary (as hsync.c's status_cb). */
static void status_hook(const void *ctx, const char *name,
			void (*emit)(void *arg, const char *line), void *arg)
{
	const struct geo *g = ctx;
	const struct geo_conf *gc = geo_conf_of(g);
	int only = name != NULL ? geo_service_index(g, name) : -1;
	if (name != NULL && only < 0) {
		emit(arg, "unknown service");
		return;
	}
	for (size_t s = 0; s < gc->n_services; s++) {
		if (only >= 0 && s != (size_t)only)
			continue;
		bool up[GEO_DC_MAX];
		unsigned n_up[GEO_DC_MAX], total[GEO_DC_MAX];
		geo_service_health(g, s, up, n_up, total, GEO_DC_MAX);
		for (size_t k = 0; k < gc->services[s].n_dcs; k++) {
			char line[256];
			snprintf(line, sizeof(line), "service %s dc %s: %s, %u/%u up",
				 gc->services[s].name, gc->dcs[gc->services[s].dcs[k].dc].name,
				 up[k] ? "up" : "down", n_up[k], total[k]);
			emit(arg, line);
		}
	}
}

void fuzz_answer_conf(struct answer_conf *conf)
{
	static const uint8_t nsid[] = "ns1-fuzz";
	static const uint8_t secret[16] = "geodnsd-fuzzing";
	struct geo *g = fuzz_geo();
	memset(conf, 0, sizeof(*conf));
	conf->identity = "ns1.fuzz.example";
	conf->version = "geodnsd fuzz";
	conf->nsid = nsid;
	conf->nsid_len = sizeof(nsid) - 1;
	conf->udp_max_payload = 1232;
	conf->dyn.ctx = g;
	conf->dyn.answer = geo_answer;
	conf->dyn.explain = geo_explain;
	conf->dyn.explain_allowed = geo_explain_allowed;
	conf->status = status_hook;
	conf->status_ctx = g;
	conf->cookies = true;
	cookie_set_secret(secret);
}

/* ---- response checks ---------------------------------------------------- */

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * Check the possibly compressed name at r[off]: labels of at most 63
 * octets, at most 255 octets in all, pointers only to earlier octets past
 * the header (each hop strictly before the last, so the walk ends).
 * Returns the offset just past the name as written at off.
 */
static size_t check_name(const uint8_t *r, size_t len, size_t off)
{
	size_t pos = off, end = 0, total = 0, limit = off;
	for (;;) {
		if (pos >= len)
			fatal("name at %zu runs past the end (%zu)", off, len);
		uint8_t c = r[pos];
		if ((c & 0xC0) == 0xC0) {
			if (pos + 1 >= len)
				fatal("pointer at %zu cut short", pos);
			size_t target = (size_t)(c & 0x3F) << 8 | r[pos + 1];
			if (end == 0)
				end = pos + 2;
			if (target >= limit || target < 12)
				fatal("pointer at %zu to %zu: not backwards into the message", pos,
				      target);
			limit = pos = target;
			continue;
		}
		if ((c & 0xC0) != 0)
			fatal("label type 0x%02x at %zu", c, pos);
		total += 1u + c;
		if (total > 255)
			fatal("name at %zu longer than 255 octets", off);
		if (c == 0)
			return end != 0 ? end : pos + 1;
		pos += 1u + c;
	}
}

/* RDATA names of the RFC 1035 types we serve must lie inside the RDATA. */
static void check_rdata(const uint8_t *r, uint16_t type, size_t rd, size_t rdlen)
{
	size_t end = rd + rdlen, o;
	switch (type) {
	case RRTYPE_NS:
	case RRTYPE_CNAME:
	case RRTYPE_PTR:
		o = check_name(r, end, rd);
		break;
	case RRTYPE_MX:
		o = rdlen < 2 ? end + 1 : check_name(r, end, rd + 2);
		break;
	case RRTYPE_SOA:
		o = check_name(r, end, rd);
		o = check_name(r, end, o) + 20;
		break;
	case RRTYPE_A:
		o = rdlen == 4 ? end : end + 1;
		break;
	case RRTYPE_AAAA:
		o = rdlen == 16 ? end : end + 1;
		break;
	default:
		return;
	}
	if (o != end)
		fatal("type %u RDATA at %zu: %zu octets, contents need %zu", (unsigned)type, rd,
		      rdlen, o - rd);
}

void fuzz_check_response(const uint8_t *query, size_t qlen, const uint8_t *resp, size_t rlen,
			 enum answer_transport tr, size_t max_udp)
{
	if (rlen == 0)
		return;
	if (rlen < DNS_HEADER_SIZE || qlen < DNS_HEADER_SIZE)
		fatal("response of %zu octets to a query of %zu", rlen, qlen);
	if (rlen > ANSWER_BUF_SIZE)
		fatal("response of %zu octets", rlen);
	if (rd16(resp) != rd16(query))
		fatal("ID %04x, query had %04x", rd16(resp), rd16(query));
	if (!(resp[2] & 0x80))
		fatal("QR not set");
	if ((resp[2] & 0x79) != (query[2] & 0x79))
		fatal("opcode/RD %02x, query had %02x", resp[2] & 0x79, query[2] & 0x79);

	unsigned qd = rd16(resp + 4);
	unsigned count[3] = { rd16(resp + 6), rd16(resp + 8), rd16(resp + 10) };
	if (qd > 1)
		fatal("QDCOUNT %u", qd);
	size_t o = DNS_HEADER_SIZE;
	if (qd == 1) {
		o = check_name(resp, rlen, o) + 4;
		if (o > rlen)
			fatal("question cut short");
		if (o > qlen || memcmp(resp + 12, query + 12, o - 12) != 0)
			fatal("question not echoed as sent");
	}
	unsigned n_opt = 0;
	for (unsigned sec = 0; sec < 3; sec++) {
		for (unsigned i = 0; i < count[sec]; i++) {
			size_t owner = o;
			o = check_name(resp, rlen, o);
			if (o + 10 > rlen)
				fatal("record %u of section %u cut short", i, sec);
			uint16_t type = rd16(resp + o);
			uint32_t ttl = (uint32_t)rd16(resp + o + 4) << 16 | rd16(resp + o + 6);
			size_t rdlen = rd16(resp + o + 8);
			o += 10;
			if (o + rdlen > rlen)
				fatal("RDATA of record %u of section %u runs past the end", i, sec);
			if (type == RRTYPE_OPT) {
				if (sec != 2 || resp[owner] != 0 || ++n_opt > 1)
					fatal("OPT in section %u, owner at %zu, number %u", sec,
					      owner, n_opt);
			} else {
				if (ttl > 0x7FFFFFFFu)
					fatal("TTL %u has the top bit set (RFC 2181 8)", ttl);
				check_rdata(resp, type, o, rdlen);
			}
			o += rdlen;
		}
	}
	if (o != rlen)
		fatal("%zu octets after the last record", rlen - o);
	if (tr == ANSWER_UDP && rlen > (n_opt > 0 ? max_udp : 512))
		fatal("UDP response of %zu octets (%s OPT)", rlen, n_opt > 0 ? "with" : "without");
}

size_t fuzz_make_query(uint8_t *buf, uint16_t id, const uint8_t *qname, uint16_t qtype,
		       uint16_t qclass, bool edns)
{
	static const uint8_t opt[] = { 0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0 };
	size_t n = 0;
	while (qname[n] != 0)
		n += 1u + qname[n];
	n++;
	memset(buf, 0, DNS_HEADER_SIZE);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = 0x01; /* RD */
	buf[5] = 1;
	buf[11] = edns ? 1 : 0;
	memcpy(buf + DNS_HEADER_SIZE, qname, n);
	size_t o = DNS_HEADER_SIZE + n;
	buf[o++] = (uint8_t)(qtype >> 8);
	buf[o++] = (uint8_t)qtype;
	buf[o++] = (uint8_t)(qclass >> 8);
	buf[o++] = (uint8_t)qclass;
	if (edns) {
		memcpy(buf + o, opt, sizeof(opt));
		o += sizeof(opt);
	}
	return o;
}
