/* SPDX-License-Identifier: MIT */
/*
 * ex3_method: a method of an object (docs/situations.md, situation 3).
 *
 * Python: `p.map(self.evaluate, xs)`. Python 2 cannot pickle a bound method
 * at all; Python 3 pickles the whole object again for every chunk it sends,
 * so people move the method out of the class or register copyreg hooks.
 * hpool: the object's state is a struct, and its method is a plain function
 * that takes the object as its first argument. To map the method, pass the
 * object as `ctx`: it is copied once for the whole call, never per item,
 * and nothing needs registering. A three-line adapter turns the method's
 * signature into a task's.
 */
#include <hpool.h>

#include <stdio.h>

#define N 500

/* class Polynomial: coefficients, lowest degree first. */
struct polynomial {
	int degree;
	long coef[8];
};

/* def evaluate(self, x): Horner's rule. */
static long polynomial_evaluate(const struct polynomial *self, long x)
{
	long y = 0;

	for (int d = self->degree; d >= 0; d--)
		y = y * x + self->coef[d];
	return y;
}

/* The adapter: `ctx` is self, `in` the argument, `out` the result. */
static int polynomial_evaluate_task(void *out, const void *in,
				    const void *ctx)
{
	*(long *)out = polynomial_evaluate(ctx, *(const long *)in);
	return 0;
}

int main(void)
{
	/* p(x) = 3x^3 - 2x^2 + x - 7 */
	struct polynomial poly = { .degree = 3, .coef = { -7, 1, -2, 3 } };
	long xs[N], ys[N];
	hpool *pool;
	int err, bad = 0;

	for (int i = 0; i < N; i++)
		xs[i] = i - N / 2;

	err = hpool_create(&pool, NULL);
	if (err) {
		fprintf(stderr, "hpool_create: %s\n", hpool_last_error());
		return 1;
	}
	/* ys = pool.map(poly.evaluate, xs) */
	err = hpool_map(pool, polynomial_evaluate_task, &poly, sizeof(poly),
			xs, sizeof(xs[0]), ys, sizeof(ys[0]), N, NULL);
	if (err) {
		fprintf(stderr, "hpool_map: %s\n", hpool_last_error());
		return 1;
	}
	hpool_destroy(pool);

	printf("p(x) = 3x^3 - 2x^2 + x - 7\n");
	for (int i = 0; i < N; i++) {
		long want = 3 * xs[i] * xs[i] * xs[i] - 2 * xs[i] * xs[i] +
			    xs[i] - 7;

		if (xs[i] >= -2 && xs[i] <= 2)
			printf("p(%ld) = %ld\n", xs[i], ys[i]);
		if (ys[i] != want) {
			printf("MISMATCH at x = %ld: %ld, want %ld\n", xs[i],
			       ys[i], want);
			bad = 1;
		}
	}
	printf("%s\n", bad ? "FAILED" : "ok");
	return bad;
}
