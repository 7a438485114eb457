/* test_tpool_policy.c — the thread pool's fallback decision (lib/backend/kernels/tpool_policy.h)
 * driven with made-up timings: which signal sends jobs to the caller alone, for how long, and
 * how the period grows while tries fail and resets after a parallel run that lasted. */
#include "tpool_policy.h"

#include <criterion/criterion.h>

/* A parallel job of 300 us: the caller ran 8 chunks in 280 us, then waited wait_us. */
static int job(tg_tpool_policy *pol, double now, double wait_us)
{
    return tg__policy_job(pol, now, 280 + wait_us, 8, 280, wait_us);
}

Test(tpool_policy, a_worker_that_finishes_its_chunk_late_is_not_a_stall)
{
    tg_tpool_policy pol;
    tg__policy_init(&pol, 0);
    cr_assert_eq(tg__policy_solo(&pol, 0), 0);
    /* 3 chunks of 35 us = 105 us, under the 200 us floor; 150 us is under both */
    job(&pol, 1000, 100);
    job(&pol, 2000, 199);
    cr_assert_eq(tg__policy_solo(&pol, 3000), 0);
    cr_assert_eq(pol.stalls, 0);
    cr_assert_eq(tg__policy_stall_us(8, 280), TG_POLICY_STALL_MIN_US);
    cr_assert_eq(tg__policy_stall_us(0, 0), TG_POLICY_STALL_MIN_US); /* workers ran every chunk */
    cr_assert_eq(tg__policy_stall_us(8, 16000), 6000);
    /* long chunks: 8 chunks of 2 ms, a 5 ms wait is under 3 chunks */
    tg__policy_job(&pol, 10000, 21000, 8, 16000, 5000);
    cr_assert_eq(tg__policy_solo(&pol, 10001), 0);
    /* but 7 ms is not */
    tg__policy_job(&pol, 20000, 23000, 8, 16000, 7000);
    cr_assert_eq(tg__policy_solo(&pol, 20001), 1);
    cr_assert_eq(pol.stalls, 1);
}

Test(tpool_policy, a_stall_sends_jobs_to_the_caller_for_a_period_of_wall_time)
{
    tg_tpool_policy pol;
    tg__policy_init(&pol, 0);
    /* the first failure, soon after creation: the base period */
    job(&pol, 1e6, 3000);
    cr_assert_eq(pol.stalls, 1);
    cr_assert_eq(tg__policy_solo(&pol, 1e6 + 1), 1);
    cr_assert_eq(tg__policy_solo(&pol, 1e6 + TG_POLICY_SOLO_US - 1), 1);
    cr_assert_eq(tg__policy_solo(&pol, 1e6 + TG_POLICY_SOLO_US), 0);
    /* the parallel run that follows keeps going: answers stay 0 */
    cr_assert_eq(tg__policy_solo(&pol, 1e6 + 10 * TG_POLICY_SOLO_US), 0);
}

Test(tpool_policy, the_period_doubles_while_tries_fail_soon_up_to_the_cap)
{
    tg_tpool_policy pol;
    tg__policy_init(&pol, 0);
    double now = 1000, len = TG_POLICY_SOLO_US;
    for (int i = 0; i < 12; i++) {
        job(&pol, now, 5000);
        cr_assert_eq(tg__policy_solo(&pol, now + len - 1), 1, "try %d: period %g", i, len);
        cr_assert_eq(tg__policy_solo(&pol, now + len), 0, "try %d: period %g", i, len);
        now += len + 100; /* the try fails 100 us after the period ends */
        len = 2 * len > TG_POLICY_SOLO_MAX_US ? TG_POLICY_SOLO_MAX_US : 2 * len;
    }
    cr_assert_eq(pol.solo_len, TG_POLICY_SOLO_MAX_US);
    /* a parallel run that lasted: the next failure gets the base period again */
    now += TG_POLICY_GOOD_US;
    job(&pol, now, 5000);
    cr_assert_eq(tg__policy_solo(&pol, now + TG_POLICY_SOLO_US - 1), 1);
    cr_assert_eq(tg__policy_solo(&pol, now + TG_POLICY_SOLO_US), 0);
}

Test(tpool_policy, run_queue_delay_over_a_window_sends_jobs_to_the_caller)
{
    tg_tpool_policy pol;
    tg__policy_init(&pol, 0);
    double now = 1000;
    /* the first job asks for a reading: the window's base */
    cr_assert_eq(job(&pol, now, 0), 1);
    tg__policy_delay(&pol, now, 5e5, 1);
    /* then not before 4 ms of job time: 13 jobs of 280 us, the 15th asks */
    int asked = 0, jobs = 0;
    while (!asked) {
        now += 300;
        asked = job(&pol, now, 0);
        jobs++;
    }
    cr_assert_eq(jobs, (int)(TG_POLICY_WINDOW_US / 280) + 1);
    /* 5 % of the window's job time waiting for a CPU: the machine is not busy */
    const double window = pol.win_job_us;
    tg__policy_delay(&pol, now, 5e5 + 0.05 * window, 1);
    cr_assert_eq(tg__policy_solo(&pol, now), 0);
    cr_assert_eq(pol.busy_windows, 0);
    /* 15 % over the next window: it is */
    while (!job(&pol, now += 300, 0))
        ;
    tg__policy_delay(&pol, now, 5e5 + 0.05 * window + 0.15 * pol.win_job_us, 1);
    cr_assert_eq(pol.busy_windows, 1);
    cr_assert_eq(tg__policy_solo(&pol, now + 1), 1);
    cr_assert_eq(pol.stalls, 0);
}

Test(tpool_policy, the_delay_share_is_per_worker_and_each_parallel_run_takes_a_new_base)
{
    tg_tpool_policy pol;
    tg__policy_init(&pol, 0);
    double now = 1000;
    job(&pol, now, 0);
    tg__policy_delay(&pol, now, 0, 3);
    while (!job(&pol, now += 300, 0))
        ;
    /* 3 workers: 15 % of one worker's time is 5 % of theirs */
    tg__policy_delay(&pol, now, 0.15 * pol.win_job_us, 3);
    cr_assert_eq(tg__policy_solo(&pol, now + 1), 0);
    /* a stall, a solo period; the delay that grew meanwhile (other processes, our sleeping
     * workers do not wait) is not charged to the next run: its first reading is a new base */
    job(&pol, now += 300, 50000);
    cr_assert_eq(tg__policy_solo(&pol, now + 1), 1);
    tg__policy_delay(&pol, now + 2, 1e9, 3); /* ignored while solo */
    cr_assert_eq(pol.busy_windows, 0);
    now += TG_POLICY_SOLO_MAX_US;
    cr_assert_eq(tg__policy_solo(&pol, now), 0);
    cr_assert_eq(job(&pol, now += 300, 0), 1);
    tg__policy_delay(&pol, now, 2e9, 3);
    cr_assert_eq(tg__policy_solo(&pol, now + 1), 0);
    cr_assert_eq(pol.busy_windows, 0);
}

Test(tpool_policy, a_caller_that_waited_for_a_cpu_while_solo_extends_the_period_without_a_try)
{
    tg_tpool_policy pol;
    tg__policy_init(&pol, 0);
    job(&pol, 1000, 5000); /* a stall: solo for the base period */
    double end = 1000 + TG_POLICY_SOLO_US;
    cr_assert_eq(tg__policy_solo_over(&pol, end - 1), 0);
    cr_assert_eq(tg__policy_solo_over(&pol, end), 1);
    /* the caller waited 5 % of the period: try the workers */
    tg__policy_solo_end(&pol, end, 0.05 * TG_POLICY_SOLO_US, -1);
    cr_assert_eq(tg__policy_solo(&pol, end), 0);
    cr_assert_eq(pol.busy_solo, 0);
    /* the try fails at once; this time the caller waited 30 % of the period: no try, a doubled
     * period follows at once, then another */
    job(&pol, end + 100, 5000);
    const double len = 2 * TG_POLICY_SOLO_US;
    end += 100 + len;
    cr_assert_eq(tg__policy_solo_over(&pol, end), 1);
    tg__policy_solo_end(&pol, end, 0.3 * len, -1);
    cr_assert_eq(pol.busy_solo, 1);
    cr_assert_eq(tg__policy_solo(&pol, end), 1);
    cr_assert_eq(tg__policy_solo(&pol, end + 2 * len - 1), 1);
    cr_assert_eq(tg__policy_solo_over(&pol, end + 2 * len), 1);
    tg__policy_solo_end(&pol, end + 2 * len, 0, -1);
    cr_assert_eq(tg__policy_solo(&pol, end + 2 * len), 0);
    /* a reading before the period is over changes nothing */
    job(&pol, end + 2 * len + 100, 5000);
    tg__policy_solo_end(&pol, end + 2 * len + 200, 1e9, -1);
    cr_assert_eq(pol.busy_solo, 1);
}

Test(tpool_policy, no_free_cpu_during_a_solo_period_extends_it_without_a_try)
{
    tg_tpool_policy pol;
    tg__policy_init(&pol, 0);
    job(&pol, 1000, 5000); /* a stall: solo for the base period */
    double end = 1000 + TG_POLICY_SOLO_US;
    /* another process kept the other CPU busy: 0.1 CPU free on average */
    tg__policy_solo_end(&pol, end, 0, 0.1);
    cr_assert_eq(pol.no_idle, 1);
    cr_assert_eq(pol.busy_solo, 0);
    cr_assert_eq(tg__policy_solo(&pol, end), 1);
    double len = 2 * TG_POLICY_SOLO_US;
    cr_assert_eq(tg__policy_solo_over(&pol, end + len - 1), 0);
    end += len;
    /* doubling up to the cap */
    for (int i = 0; i < 12; i++) {
        tg__policy_solo_end(&pol, end, 0, 0);
        len = len * 2 > TG_POLICY_SOLO_MAX_US ? TG_POLICY_SOLO_MAX_US : len * 2;
        end += len;
    }
    cr_assert_eq(pol.no_idle, 13);
    cr_assert_eq(pol.solo_len, TG_POLICY_SOLO_MAX_US);
    cr_assert_eq(tg__policy_solo_over(&pol, end - 1), 0);
    /* the other process stopped: a CPU was free, so the next job tries the workers */
    tg__policy_solo_end(&pol, end, 0, 0.9);
    cr_assert_eq(tg__policy_solo(&pol, end), 0);
    cr_assert_eq(pol.no_idle, 13);
    /* an unreadable idle time (< 0) never blocks a try */
    job(&pol, end + 100, 5000);
    const double end2 = end + 100 + pol.solo_len;
    tg__policy_solo_end(&pol, end2, -1, -1);
    cr_assert_eq(tg__policy_solo(&pol, end2), 0);
    cr_assert_eq(pol.no_idle, 13);
}
