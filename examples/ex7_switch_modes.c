/* SPDX-License-Identifier: MIT */
/*
 * ex7_switch_modes: one program, threads or processes
 * (docs/situations.md, situation 7).
 *
 * Python: `multiprocessing.dummy` offers the same Pool on threads, and people
 * switch by editing an import (`from multiprocessing.dummy import Pool`),
 * then discover the code relied on something only one kind of pool gives.
 * hpool: the mode is a run-time choice. Run this program as
 *     HPOOL_MODE=thread  ./ex7_switch_modes
 *     HPOOL_MODE=process ./ex7_switch_modes   (the default)
 *     HPOOL_MODE=serial  ./ex7_switch_modes   (no workers: for debuggers)
 * without rebuilding: hpool_create(&pool, NULL) reads $HPOOL_MODE, or a
 * program sets hpool_config.mode itself, as the second half does to check
 * that every mode gives the same results. What makes a task portable
 * across modes: it communicates through `out` (and memory from
 * hpool_shm_alloc, like the call counter here), never by writing the
 * caller's globals, which a forked worker only changes in its own copy.
 */
#include <hpool.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define N 12

struct word {
	char text[16];
};

struct word_info {
	uint32_t hash; /* FNV-1a of the text */
	int length;
};

struct count_ctx {
	_Atomic long *calls; /* hpool_shm_alloc memory: shared in all modes */
};

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static int word_info(void *out, const void *in, const void *ctx)
{
	const struct word *w = in;
	const struct count_ctx *c = ctx;
	struct word_info *r = out;

	r->hash = fnv1a(w->text);
	r->length = (int)strlen(w->text);
	atomic_fetch_add(c->calls, 1);
	return 0;
}

static const char *const mode_names[] = { "env", "thread", "process",
					  "serial" };

/* Run the map on a new pool of the given mode; return the call count. */
static long run(hpool_mode mode, const struct word *words,
		struct word_info *res)
{
	hpool_config cfg;
	struct count_ctx c;
	hpool *pool;
	long calls;

	hpool_config_init(&cfg);
	cfg.mode = mode; /* HPOOL_MODE_ENV: whatever $HPOOL_MODE says */
	if (hpool_create(&pool, &cfg)) {
		fprintf(stderr, "hpool_create(%s): %s\n", mode_names[mode],
			hpool_last_error());
		return -1;
	}
	c.calls = hpool_shm_alloc(pool, sizeof(*c.calls));
	if (!c.calls) {
		fprintf(stderr, "hpool_shm_alloc: %s\n", hpool_last_error());
		return -1;
	}
	atomic_init(c.calls, 0);
	if (hpool_map(pool, word_info, &c, sizeof(c), words, sizeof(*words),
		      res, sizeof(*res), N, NULL)) {
		fprintf(stderr, "hpool_map(%s): %s\n", mode_names[mode],
			hpool_last_error());
		return -1;
	}
	calls = atomic_load(c.calls);
	hpool_shm_free(pool, (void *)c.calls);
	hpool_destroy(pool);
	return calls;
}

int main(void)
{
	static const char *const texts[N] = {
		"alpha", "bravo", "charlie", "delta", "echo", "foxtrot",
		"golf", "hotel", "india", "juliett", "kilo", "lima",
	};
	struct word words[N];
	struct word_info ref[N], res[N];
	hpool_mode modes[] = { HPOOL_MODE_THREAD, HPOOL_MODE_PROCESS,
			       HPOOL_MODE_SERIAL };
	long calls;
	int bad = 0;

	memset(words, 0, sizeof(words));
	for (int i = 0; i < N; i++)
		snprintf(words[i].text, sizeof(words[i].text), "%s", texts[i]);

	/* The mode $HPOOL_MODE chose. Its name is not printed: the output
	 * is the same whichever it is. */
	calls = run(HPOOL_MODE_ENV, words, ref);
	if (calls < 0)
		return 1;
	for (int i = 0; i < N; i++) {
		printf("%-8s length %d  fnv1a %08x\n", words[i].text,
		       ref[i].length, (unsigned)ref[i].hash);
		if (ref[i].hash != fnv1a(texts[i]) ||
		    ref[i].length != (int)strlen(texts[i])) {
			printf("MISMATCH for %s\n", texts[i]);
			bad = 1;
		}
	}
	printf("tasks run: %ld\n", calls);
	bad |= calls != N;

	/* Each mode named explicitly, compared with the run above. */
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		int same;

		memset(res, 0, sizeof(res));
		calls = run(modes[m], words, res);
		if (calls < 0)
			return 1;
		same = calls == N && !memcmp(res, ref, sizeof(ref));
		printf("mode %-7s: %s\n", mode_names[modes[m]],
		       same ? "same results" : "DIFFERENT");
		bad |= !same;
	}
	printf("%s\n", bad ? "FAILED" : "ok");
	return bad;
}
