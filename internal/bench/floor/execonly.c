/*
 * The floor of any wrapper: exec the runtime named by RROBENCH_RUNTIME with
 * the same arguments. Built statically by bench/run.sh so no dynamic loader
 * runs either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

int main(int argc, char **argv)
{
	const char *rt = getenv("RROBENCH_RUNTIME");
	(void)argc;
	if (rt == NULL || *rt == '\0') {
		fputs("execonly-c: RROBENCH_RUNTIME is not set\n", stderr);
		return 1;
	}
	argv[0] = (char *)rt;
	execv(rt, argv);
	fprintf(stderr, "execonly-c: exec %s: %s\n", rt, strerror(errno));
	return 1;
}
