/* probe.c: the table of check kinds and the parameters' lifetime. */
#include "config.h"

#include "healthcheck/probe.h"

#include <stdlib.h>
#include <string.h>

const struct hc_kind_ops *hc_kind_ops(enum hc_kind kind)
{
	switch (kind) {
	case HC_TCP:
		return &check_tcp_ops;
	case HC_HTTP:
		return &check_http_ops;
	case HC_HTTPS:
		return &check_https_ops;
	case HC_DNS:
		return &check_dns_ops;
	case HC_EXEC:
		return &check_exec_ops;
	default:
		return NULL;
	}
}

void hc_params_clear(struct hc_params *p)
{
	if (p == NULL)
		return;
	free(p->path);
	free(p->host);
	free(p->status);
	free(p->expect);
	free(p->ca_file);
	free(p->dns_name);
	for (size_t i = 0; i < p->argc; i++)
		free(p->argv[i]);
	free(p->argv);
	memset(p, 0, sizeof(*p));
}
