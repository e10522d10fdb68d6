/* SPDX-License-Identifier: MIT */
/*
 * ex2_args: several arguments per call (docs/situations.md, situation 2).
 *
 * Python: Pool.map passes one argument, so people zip lists into tuples and
 * unpack them in the function, bind constants with functools.partial, or
 * use starmap: `p.starmap(partial(pow, mod=1000003), zip(bases, exps))`.
 * hpool: the per-item arguments are one struct (the tuple), and the
 * constant arguments are a second struct passed as `ctx` (the partial):
 * `ctx` is copied once per call and shown to every task, not once per item.
 */
#include <hpool.h>

#include <stdio.h>

#define N 200

/* The per-item arguments: what zip(bases, exps) would give. */
struct pow_args {
	long base;
	long exp;
};

/* The constant arguments: what partial(..., mod=...) would bind. */
struct pow_consts {
	long mod;
};

/* pow(base, exp, mod), by squaring. */
static long pow_mod(long base, long exp, long mod)
{
	long r = 1 % mod;

	base %= mod;
	for (; exp > 0; exp >>= 1) {
		if (exp & 1)
			r = r * base % mod;
		base = base * base % mod;
	}
	return r;
}

static int pow_task(void *out, const void *in, const void *ctx)
{
	const struct pow_args *a = in;
	const struct pow_consts *k = ctx;

	*(long *)out = pow_mod(a->base, a->exp, k->mod);
	return 0;
}

int main(void)
{
	struct pow_args args[N];
	struct pow_consts k = { .mod = 1000003 };
	long res[N];
	hpool *pool;
	int err, bad = 0;

	for (int i = 0; i < N; i++) {
		args[i].base = 2 + i;
		args[i].exp = 10 * i + 1;
	}

	err = hpool_create(&pool, NULL);
	if (err) {
		fprintf(stderr, "hpool_create: %s\n", hpool_last_error());
		return 1;
	}
	err = hpool_map(pool, pow_task, &k, sizeof(k), args, sizeof(args[0]),
			res, sizeof(res[0]), N, NULL);
	if (err) {
		fprintf(stderr, "hpool_map: %s\n", hpool_last_error());
		return 1;
	}
	hpool_destroy(pool);

	for (int i = 0; i < N; i++) {
		long want = pow_mod(args[i].base, args[i].exp, k.mod);

		if (i < 5 || i == N - 1)
			printf("pow(%ld, %ld, %ld) = %ld\n", args[i].base,
			       args[i].exp, k.mod, res[i]);
		if (res[i] != want) {
			printf("MISMATCH at %d: %ld, want %ld\n", i, res[i],
			       want);
			bad = 1;
		}
	}
	printf("%s\n", bad ? "FAILED" : "ok");
	return bad;
}
