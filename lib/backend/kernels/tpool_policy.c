/* backend/kernels/tpool_policy.c — see tpool_policy.h. */
#include "tpool_policy.h"

static void begin_parallel(tg_tpool_policy *pol, double now)
{
    pol->solo = 0;
    pol->par_since = now;
    pol->win_job_us = 0;
    pol->win_delay_us = -1; /* the first reading of the run is the window's base */
}

/* A solo period of twice the last one's length (up to the cap) starts at `now`. */
static void solo_again_doubled(tg_tpool_policy *pol, double now)
{
    pol->solo_len *= 2;
    if (pol->solo_len > TG_POLICY_SOLO_MAX_US)
        pol->solo_len = TG_POLICY_SOLO_MAX_US;
    pol->solo = 1;
    pol->solo_start = now;
    pol->solo_until = now + pol->solo_len;
}

/* Run on the caller alone from now on. A parallel run that failed soon after it began means
 * the machine is still busy: wait twice as long before the next try (up to the cap); one that
 * lasted was a passing disturbance: start again from the base period. */
static void begin_solo(tg_tpool_policy *pol, double now)
{
    if (now - pol->par_since >= TG_POLICY_GOOD_US)
        pol->solo_len = TG_POLICY_SOLO_US / 2; /* doubled to the base */
    solo_again_doubled(pol, now);
}

void tg__policy_init(tg_tpool_policy *pol, double now)
{
    *pol = (tg_tpool_policy){0};
    /* Half the base: the first failure (soon after creation) then solos for the base period. */
    pol->solo_len = TG_POLICY_SOLO_US / 2;
    begin_parallel(pol, now);
}

int tg__policy_solo_over(const tg_tpool_policy *pol, double now)
{
    return pol->solo && now >= pol->solo_until;
}

void tg__policy_solo_end(tg_tpool_policy *pol, double now, double delay_us, double idle_cpus)
{
    if (!tg__policy_solo_over(pol, now))
        return;
    if (delay_us > TG_POLICY_DELAY_SHARE * (now - pol->solo_start))
        pol->busy_solo++;
    else if (idle_cpus >= 0 && idle_cpus < TG_POLICY_IDLE_MIN)
        pol->no_idle++;
    else
        return;
    solo_again_doubled(pol, now);
}

int tg__policy_solo(tg_tpool_policy *pol, double now)
{
    if (pol->solo && now >= pol->solo_until)
        begin_parallel(pol, now);
    return pol->solo;
}

double tg__policy_stall_us(int64_t mine, double caller_us)
{
    /* A running worker finishes the chunk it holds within about one chunk of the caller's last;
     * waiting several chunks (and more than scheduling noise) means it is not running. */
    const double chunks = mine > 0 ? TG_POLICY_STALL_CHUNKS * caller_us / (double)mine : 0;
    return chunks > TG_POLICY_STALL_MIN_US ? chunks : TG_POLICY_STALL_MIN_US;
}

int tg__policy_job(tg_tpool_policy *pol, double now, double job_us, int64_t mine, double caller_us,
                   double wait_us)
{
    if (wait_us > tg__policy_stall_us(mine, caller_us)) {
        pol->stalls++;
        begin_solo(pol, now);
        return 0;
    }
    pol->win_job_us += job_us;
    return pol->win_delay_us < 0 || pol->win_job_us >= TG_POLICY_WINDOW_US;
}

void tg__policy_delay(tg_tpool_policy *pol, double now, double delay_us, int32_t n_workers)
{
    if (pol->solo)
        return;
    if (pol->win_delay_us >= 0 &&
        delay_us - pol->win_delay_us > TG_POLICY_DELAY_SHARE * pol->win_job_us * n_workers) {
        pol->busy_windows++;
        begin_solo(pol, now);
        return;
    }
    pol->win_delay_us = delay_us;
    pol->win_job_us = 0;
}
