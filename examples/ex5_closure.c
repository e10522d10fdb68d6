/* SPDX-License-Identifier: MIT */
/*
 * ex5_closure: lambdas, closures, functions chosen on the fly
 * (docs/situations.md, situation 5).
 *
 * Python: `p.map(lambda x: a * x + b, xs)` fails with "Can't pickle <function
 * <lambda>>": pickle sends a function by its module and name, so lambdas,
 * nested functions and closures cannot travel; people turn to dill or
 * cloudpickle, which serialize the code itself.
 * hpool: a C function pointer is valid in every worker as it is (workers are
 * threads of the caller or processes forked from it), so there is nothing
 * to serialize. A closure is a function plus the variables it captured: the
 * function is the task, the captured variables are its `ctx`, copied by
 * value (so, unlike Python's late-binding lambdas in a loop, each closure
 * keeps the value it was made with). Here closures are built at run time
 * from a list of recipes and each is mapped over the same input.
 */
#include <hpool.h>

#include <stdio.h>
#include <string.h>

#define N 100

/* A closure: code, and the variables it captured (by value). */
struct closure {
	hpool_fn fn;
	long env[2];
	char text[64]; /* how Python would spell it; only the caller reads it */
};

/* lambda x: a * x + b */
static int affine(void *out, const void *in, const void *env)
{
	const long *v = env;

	*(long *)out = v[0] * *(const long *)in + v[1];
	return 0;
}

/* lambda x: min(max(x, lo), hi) */
static int clamp(void *out, const void *in, const void *env)
{
	const long *v = env;
	long x = *(const long *)in;

	*(long *)out = x < v[0] ? v[0] : x > v[1] ? v[1] : x;
	return 0;
}

/* lambda x: x % m == r  (a predicate, as used with filter) */
static int congruent(void *out, const void *in, const void *env)
{
	const long *v = env;

	*(long *)out = *(const long *)in % v[0] == v[1];
	return 0;
}

static struct closure make_affine(long a, long b)
{
	struct closure c = { affine, { a, b }, "" };

	snprintf(c.text, sizeof(c.text), "lambda x: %ld * x + %ld", a, b);
	return c;
}

static struct closure make_clamp(long lo, long hi)
{
	struct closure c = { clamp, { lo, hi }, "" };

	snprintf(c.text, sizeof(c.text), "lambda x: min(max(x, %ld), %ld)",
		 lo, hi);
	return c;
}

static struct closure make_congruent(long m, long r)
{
	struct closure c = { congruent, { m, r }, "" };

	snprintf(c.text, sizeof(c.text), "lambda x: x %% %ld == %ld", m, r);
	return c;
}

int main(void)
{
	struct closure fs[6];
	long xs[N], ys[N], want;
	int nf = 0, err, bad = 0;
	hpool *pool;

	/* [lambda x: k * x + 1 for k in (1, 2, 3)], each keeping its own k */
	for (long k = 1; k <= 3; k++)
		fs[nf++] = make_affine(k, 1);
	fs[nf++] = make_clamp(10, 20);
	fs[nf++] = make_congruent(7, 3);
	for (int i = 0; i < N; i++)
		xs[i] = i;

	err = hpool_create(&pool, NULL);
	if (err) {
		fprintf(stderr, "hpool_create: %s\n", hpool_last_error());
		return 1;
	}
	for (int f = 0; f < nf; f++) {
		const struct closure *c = &fs[f];
		long sum = 0;

		/* pool.map(c, xs): the code is c->fn, the captures c->env */
		err = hpool_map(pool, c->fn, c->env, sizeof(c->env), xs,
				sizeof(xs[0]), ys, sizeof(ys[0]), N, NULL);
		if (err) {
			fprintf(stderr, "hpool_map: %s\n", hpool_last_error());
			return 1;
		}
		/* The same closure called right here is the reference. */
		for (int i = 0; i < N; i++) {
			c->fn(&want, &xs[i], c->env);
			if (ys[i] != want) {
				printf("MISMATCH: %s at %ld: %ld, want %ld\n",
				       c->text, xs[i], ys[i], want);
				bad = 1;
			}
			sum += ys[i];
		}
		printf("%-32s f(0)=%ld f(15)=%ld f(99)=%ld sum=%ld\n",
		       c->text, ys[0], ys[15], ys[99], sum);
	}
	hpool_destroy(pool);
	printf("%s\n", bad ? "FAILED" : "ok");
	return bad;
}
