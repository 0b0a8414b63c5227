/* cookie.h: DNS Cookies (RFC 7873) with interoperable server cookies (RFC 9018). */
#ifndef GD_COOKIE_H
#define GD_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COOKIE_CLIENT_LEN 8
#define COOKIE_SERVER_LEN 16 /* RFC 9018: version, reserved, time, hash */

/* The server secret for SipHash-2-4; 16 octets.  Set it once at start-up
 * (random) or from configuration so that servers of one cluster agree. */
void cookie_set_secret(const uint8_t secret[16]);

/* Fill secret with 16 random octets from the kernel.  Returns 0 or -1. */
int cookie_random_secret(uint8_t secret[16]);

/*
 * Check the server cookie the client sent back (srv, srv_len octets) for
 * client cookie cc and client address addr (4 or 16 octets) at time now
 * (seconds).  True when it is one we made within the last hour (and not
 * more than 5 minutes in the future, RFC 9018 4.3).
 */
bool cookie_valid(const uint8_t cc[COOKIE_CLIENT_LEN], const uint8_t *srv, size_t srv_len,
		  const uint8_t *addr, size_t addr_len, uint32_t now);

/* Make a fresh server cookie for cc and addr at time now into out. */
void cookie_make(const uint8_t cc[COOKIE_CLIENT_LEN], const uint8_t *addr, size_t addr_len,
		 uint32_t now, uint8_t out[COOKIE_SERVER_LEN]);

/* SipHash-2-4 of in with a 16-octet key (exposed for its test vectors). */
uint64_t cookie_siphash24(const uint8_t key[16], const uint8_t *in, size_t len);

#endif
