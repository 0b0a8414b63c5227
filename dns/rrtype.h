/* rrtype.h: DNS protocol constants (types, classes, rcodes, header bits, EDNS). */
#ifndef GD_RRTYPE_H
#define GD_RRTYPE_H

enum {
	RRTYPE_A = 1,
	RRTYPE_NS = 2,
	RRTYPE_MD = 3,
	RRTYPE_MF = 4,
	RRTYPE_CNAME = 5,
	RRTYPE_SOA = 6,
	RRTYPE_MB = 7,
	RRTYPE_MG = 8,
	RRTYPE_MR = 9,
	RRTYPE_PTR = 12,
	RRTYPE_MINFO = 14,
	RRTYPE_MX = 15,
	RRTYPE_TXT = 16,
	RRTYPE_AAAA = 28,
	RRTYPE_SRV = 33,
	RRTYPE_DNAME = 39,
	RRTYPE_OPT = 41,
	RRTYPE_DS = 43,
	RRTYPE_RRSIG = 46,
	RRTYPE_NSEC = 47,
	RRTYPE_NSEC3 = 50,
	RRTYPE_TSIG = 250,
	RRTYPE_IXFR = 251,
	RRTYPE_AXFR = 252,
	RRTYPE_ANY = 255,
};

enum {
	RRCLASS_IN = 1,
	RRCLASS_CH = 3,
	RRCLASS_ANY = 255,
};

enum {
	RCODE_NOERROR = 0,
	RCODE_FORMERR = 1,
	RCODE_SERVFAIL = 2,
	RCODE_NXDOMAIN = 3,
	RCODE_NOTIMP = 4,
	RCODE_REFUSED = 5,
	RCODE_YXDOMAIN = 6,   /* RFC 6672 2.2: a DNAME substitution too long */
	RCODE_BADVERS = 16,   /* extended: upper bits travel in OPT TTL */
	RCODE_BADCOOKIE = 23, /* RFC 7873 8 */
};

enum {
	OPCODE_QUERY = 0,
};

/* Header flag bits within the 16-bit flags word (RFC 1035 4.1.1). */
#define HDR_QR        0x8000u
#define HDR_AA        0x0400u
#define HDR_TC        0x0200u
#define HDR_RD        0x0100u
#define HDR_RA        0x0080u
#define HDR_AD        0x0020u
#define HDR_CD        0x0010u
#define HDR_OPCODE(f) (((f) >> 11) & 0xFu)

#define DNS_HEADER_SIZE 12
#define DNS_UDP_MIN     512 /* RFC 1035 2.3.4 and RFC 6891 6.2.5 floor */

/* EDNS option codes we act on. */
enum {
	EDNS_OPT_NSID = 3,       /* RFC 5001 */
	EDNS_OPT_ECS = 8,        /* RFC 7871 */
	EDNS_OPT_COOKIE = 10,    /* RFC 7873 */
	EDNS_OPT_KEEPALIVE = 11, /* RFC 7828 edns-tcp-keepalive */
	EDNS_OPT_EDE = 15,       /* RFC 8914 Extended DNS Errors */
};

#define EDNS_DO 0x8000u

#endif
