/* ztree.h: one zone held in memory for answering: nodes, RRsets in wire form. */
#ifndef GD_ZTREE_H
#define GD_ZTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dname.h"
#include "dns/rrtype.h"

struct arena;
struct znode;

/*
 * An RRset kept in wire form: data holds count records, each as a 2-octet
 * RDLENGTH (network order) followed by RDATA with uncompressed names.
 * addl lists the nodes whose A/AAAA go in the additional section when this
 * RRset is answered (NS, MX and SRV targets inside the zone), resolved at
 * load.
 */
struct zrrset {
	uint16_t type;
	uint16_t count;
	uint32_t ttl;
	const uint8_t *data;
	/* The same records as they go in an answer whose question is the
	 * owner: for each, a pointer to offset 12, TYPE, CLASS IN, TTL ttl,
	 * RDLENGTH and RDATA (data_len + 10 * count octets).  Only for types
	 * with no compressible RDATA names (else NULL); see zrrset_wire(). */
	const uint8_t *wire;
	uint32_t data_len;
	uint16_t n_addl;
	uint16_t n_required; /* the first n_required addl entries are
				 * in-bailiwick glue (RFC 9471): TC if cut */
	const struct znode **addl;
};

enum {
	ZNODE_APEX = 1 << 0,
	ZNODE_CUT = 1 << 1,      /* delegation point: NS below the apex */
	ZNODE_OCCLUDED = 1 << 2, /* below a cut: glue only, never answered */
	ZNODE_DNAME = 1 << 3,    /* has a DNAME: names below are substituted */
};

/*
 * A name in the zone.  Empty non-terminals exist as nodes with no RRsets,
 * so a failed descent always means the name does not exist (RFC 4592 2.2.2).
 * wild points at the "*" child when there is one.  dyn is reserved for a
 * per-client (geo) answer attached by a later stage.
 */
struct znode {
	const uint8_t *name; /* lowercase wire form */
	uint32_t hash;       /* dname_hash(name) */
	uint8_t name_len;
	uint8_t labels;
	uint16_t flags;
	uint16_t n_rrsets;
	struct zrrset *rrsets; /* sorted by type */
	const struct znode *parent;
	const struct znode *wild;
	const void *dyn;
};

struct zone {
	struct znode *apex;
	const struct zrrset *soa;
	uint32_t neg_ttl; /* RFC 2308 3: min(SOA TTL, SOA MINIMUM) */
	/* MNAME and RNAME both at or below the apex: they are the first
	 * soa_mname_pre / soa_rname_pre octets followed by the apex name. */
	bool soa_rel;
	uint8_t soa_mname_pre, soa_rname_pre;
	char *name_str;       /* presentation form, for logs */
	struct znode **table; /* open addressing, power-of-two size */
	uint32_t mask;
	uint32_t n_nodes;
	uint32_t n_records;
	/* A hash of the zone's content (records and GEO names, in any order
	 * of the file), set by the loader: a reload compares it to tell a
	 * change under an unchanged serial. */
	uint64_t digest;
	struct arena *arena;
};

/* --- building (load time, control plane; aborts on OOM) --------------- */

/* A new empty zone whose apex is name (any case).  Never NULL. */
struct zone *zone_new(const uint8_t *apex);

/* Size the node table for n_names names (a loader that knows its record
 * count saves the table's growth steps); more still fit. */
void zone_reserve(struct zone *z, size_t n_names);

/* The node for name (must be at or below the apex), created with every
 * missing ancestor (empty non-terminals) when create is set.  Returns NULL
 * only when create is false and the name does not exist. */
struct znode *zone_node(struct zone *z, const uint8_t *name, bool create);

/* Attach an RRset to a node.  data/len as in struct zrrset and copied into
 * the zone.  The caller has merged records and removed duplicates; a second
 * RRset of the same type on one node is a caller bug. */
void zone_add_rrset(struct zone *z, struct znode *n, uint16_t type, uint32_t ttl, uint16_t count,
		    const uint8_t *data, size_t len);

/* Types whose RDATA names may be compressed (RFC 3597 4: those of RFC
 * 1035, all numbered below 16): NS MD MF CNAME SOA MB MG MR PTR MINFO MX. */
#define ZRR_NAME_TYPES                                                              \
	(1u << RRTYPE_NS | 1u << RRTYPE_MD | 1u << RRTYPE_MF | 1u << RRTYPE_CNAME | \
	 1u << RRTYPE_SOA | 1u << RRTYPE_MB | 1u << RRTYPE_MG | 1u << RRTYPE_MR |   \
	 1u << RRTYPE_PTR | 1u << RRTYPE_MINFO | 1u << RRTYPE_MX)

static inline bool rrtype_has_names(uint16_t type)
{
	return type < 16 && ((1u << type) & ZRR_NAME_TYPES) != 0;
}

/* The wire form of s (see struct zrrset), built in arena a from s's type,
 * ttl, count and data; NULL for types with compressible names. */
const uint8_t *zrrset_wire(struct arena *a, const struct zrrset *s);

/* Find the RRset of type at a node, or NULL. */
const struct zrrset *znode_rrset(const struct znode *n, uint16_t type);

/* After all RRsets are added: sort RRsets, set cut/occluded flags, wildcard
 * links, the SOA and negative TTL, and resolve additional-section targets.
 * Returns 0, or -1 when the apex has no SOA (the loader reports that). */
int zone_finish(struct zone *z);

/* The SERIAL of a finished zone's SOA. */
uint32_t zone_serial(const struct zone *z);

/* Free a zone and all its data; NULL is a no-op. */
void zone_free(struct zone *z);

/* Memory held by the zone, in bytes. */
size_t zone_memory(const struct zone *z);

/* --- lookup (query path: no allocation) ------------------------------ */

/* The node whose name is the suffix of q starting at label i, or NULL. */
const struct znode *zone_lookup_suffix(const struct zone *z, const struct dname_split *q,
				       unsigned i);

/* Name offsets of the RDATA names that may be compressed (RFC 3597 4:
 * only the RFC 1035 types).  Fills off[] (at most 2) and returns how many. */
unsigned rdata_compressible_names(uint16_t type, const uint8_t *rdata, uint16_t rdlen,
				  uint16_t off[2]);

/* Offset of the target name within RDATA for types with a host-name target
 * (NS, MX, SRV), or -1.  Only NS targets get additional records. */
int rdata_target_name(uint16_t type, const uint8_t *rdata, uint16_t rdlen);

#endif
