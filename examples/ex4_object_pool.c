/* SPDX-License-Identifier: MIT */
/*
 * ex4_object_pool: an object that holds its own pool
 * (docs/situations.md, situation 4).
 *
 * Python: a class creates `self.pool = Pool()` and maps `self.work` over its
 * data; sending `self` to the workers tries to pickle the pool inside it
 * and fails ("pool objects cannot be passed between processes or
 * pickled"), so people delete it in __getstate__.
 * hpool: nothing of the caller's is sent to a worker but the `in` items and
 * the `ctx` bytes. Passing the whole object, pool handle included, as `ctx`
 * just copies that pointer's bytes; the task never touches it (a task
 * submitting work to its own pool is a later feature). The object owns its
 * pool like any other resource: created in its constructor, destroyed in
 * its destructor, reused by every method call in between.
 */
#include <hpool.h>

#include <stdio.h>
#include <stdlib.h>

/* class Scaler: self.pool, self.factor, self.offset */
struct scaler {
	hpool *pool; /* travels in ctx as plain bytes; tasks ignore it */
	long factor;
	long offset;
};

/* def work(self, x): the part that runs in the workers. */
static int scaler_work(void *out, const void *in, const void *ctx)
{
	const struct scaler *self = ctx;

	*(long *)out = self->factor * *(const long *)in + self->offset;
	return 0;
}

/* def __init__(self, factor, offset): self.pool = Pool() */
static int scaler_create(struct scaler **self, long factor, long offset)
{
	struct scaler *s = malloc(sizeof(*s));
	int err;

	if (!s)
		return -1;
	s->factor = factor;
	s->offset = offset;
	err = hpool_create(&s->pool, NULL);
	if (err) {
		free(s);
		return err;
	}
	*self = s;
	return 0;
}

/* def run(self, xs): return self.pool.map(self.work, xs) */
static int scaler_run(struct scaler *self, const long *xs, long *ys,
		      size_t n)
{
	return hpool_map(self->pool, scaler_work, self, sizeof(*self), xs,
			 sizeof(*xs), ys, sizeof(*ys), n, NULL);
}

/* def close(self): self.pool.close(); self.pool.join() */
static void scaler_destroy(struct scaler *self)
{
	hpool_destroy(self->pool);
	free(self);
}

static int check(const char *what, const struct scaler *s, const long *xs,
		 const long *ys, size_t n)
{
	int bad = 0;

	printf("%s:", what);
	for (size_t i = 0; i < n; i++) {
		printf(" %ld", ys[i]);
		if (ys[i] != s->factor * xs[i] + s->offset)
			bad = 1;
	}
	printf("%s\n", bad ? "  MISMATCH" : "");
	return bad;
}

int main(void)
{
	long a[8] = { 0, 1, 2, 3, 4, 5, 6, 7 }, b[5] = { 10, 20, 30, 40, 50 };
	long ya[8], yb[5];
	struct scaler *s;
	int bad = 0;

	if (scaler_create(&s, 3, 1)) {
		fprintf(stderr, "scaler_create: %s\n", hpool_last_error());
		return 1;
	}
	/* Two method calls on one object: one pool, created once. */
	if (scaler_run(s, a, ya, 8) || scaler_run(s, b, yb, 5)) {
		fprintf(stderr, "scaler_run: %s\n", hpool_last_error());
		return 1;
	}
	bad |= check("3x+1 over 0..7", s, a, ya, 8);
	bad |= check("3x+1 over 10..50", s, b, yb, 5);
	scaler_destroy(s);
	printf("%s\n", bad ? "FAILED" : "ok");
	return bad;
}
