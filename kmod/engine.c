// SPDX-License-Identifier: GPL-2.0
/*
 * HD-IOV engine: the data path (contract sections 6, 7 and 8).
 *
 * engine_threads kthreads each serve a set of open VDEVs. A thread polls the
 * doorbell pages of the enabled QPs of its enabled VDEVs, fetches
 * descriptors from the SQ, executes them and writes completions to the CQ.
 * VDEVs get a budget of descriptors per round in proportion to their weight
 * (weighted round robin). A QP that stays empty for HDIOV_IDLE_POLLS polls
 * gets NEED_KICK and is not polled again until KICK or a trapped SQ_TAIL
 * write; a QP whose CQ is full is not polled until CQ_HEAD moves (checked
 * every HDIOV_CQ_FULL_SWEEP_MS); a thread with nothing to poll sleeps.
 *
 * Isolation (pin.c): a thread touches guest memory only through pinned,
 * kernel-mapped pages (the rings, and the data pages in the VDEV's pin
 * cache), so nothing a tenant does with its memory can make it sleep; a
 * descriptor whose pages are not pinned stops its QP until the VDEV's own
 * worker has pinned them. The thread never waits for a VDEV's lock
 * (mutex_trylock; a contended VDEV is skipped for the round).
 *
 * Locking, in the only order it is ever taken (see hdiov.h):
 *   hdiov_engine.lock  ->  hdiov_vdev.lock  ->  hdiov_parent.lock
 * hdiov_engine.lock protects the thread's VDEV list. The thread holds it for
 * a whole round, so hdiov_engine_detach() (at close) returns only once no
 * visit to the VDEV is in progress; the VDEV is never touched after that.
 * A visit to a QP takes hdiov_vdev.lock to decide and snapshot its work,
 * marks the VDEV busy, drops the lock to execute, and takes it again to
 * publish SQ_HEAD, CQ_TAIL and interrupts and to clear busy. A reset or a
 * disable calls hdiov_engine_quiesce()/hdiov_engine_stop() with
 * hdiov_vdev.lock held: they mark the QPs to abort and sleep without the
 * lock until the VDEV is not busy; meanwhile the engine completes the rest
 * of its batch with status ABORTED. Pages are unpinned only while the VDEV
 * is held off the engine (hdiov_engine_hold()).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/crc32c.h>
#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/ktime.h>
#include <linux/kthread.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/wait.h>

#include "hdiov.h"

#define HDIOV_ENGINE_BATCH	32
#define HDIOV_ENGINE_MAX_THREADS	64
#define HDIOV_WEIGHT_BUDGET	4	/* descriptors per round per weight unit */
#define HDIOV_XFER_PAGES	(HDIOV_MAX_XFER / PAGE_SIZE + 1)
#define HDIOV_CQ_FULL_SWEEP_MS	10	/* full CQs: how often CQ_HEAD is checked */

static unsigned int engine_threads = HDIOV_ENGINE_THREADS;
module_param(engine_threads, uint, 0444);
MODULE_PARM_DESC(engine_threads, "Engine kthreads (1-64)");

/*
 * After work, poll without sleeping for this long, so that a one-at-a-time
 * submitter's next descriptor is seen at once. 0 under emulation, where a
 * spinning vCPU takes time from the submitter's.
 */
static unsigned int spin_us;
module_param(spin_us, uint, 0644);
MODULE_PARM_DESC(spin_us, "Microseconds to keep polling after work (0-1000)");

/*
 * What one completion write carries: the second half of entry k (result,
 * status, flags with the phase bit) and, when entry k+1 follows it in the
 * ring, the first half of entry k+1 (its cookie). Entry k's cookie went out
 * in the previous write, so its phase bit never shows before its cookie; the
 * cookie of k+1 lands in an entry whose phase bit is still the old one.
 */
struct hdiov_cqe_write {
	__le32 result;
	u8 status;
	u8 rsvd;
	__le16 flags;
	__le64 next_cookie;
};

static_assert(sizeof(struct hdiov_cqe_write) == HDIOV_CQE_SIZE);
static_assert(offsetof(struct hdiov_cqe, result) == sizeof(__le64));

struct hdiov_engine {
	struct task_struct *task;
	struct mutex lock;		/* protects vdevs */
	struct list_head vdevs;
	wait_queue_head_t wq;
	atomic_t kicked;
	u8 *buf;			/* HDIOV_MAX_XFER bytes: overlapping COPY */
	u8 *pattern;			/* PAGE_SIZE + 8 bytes: FILL */
	struct page **src;		/* HDIOV_XFER_PAGES: a descriptor's pages */
	struct page **dst;
	u64 last_work;			/* ktime of the last round with work */
	struct hdiov_sqe sqes[HDIOV_ENGINE_BATCH];
};

static struct hdiov_engine *hdiov_engines;
static unsigned int hdiov_nr_engines;
static atomic_t hdiov_engine_next = ATOMIC_INIT(0);

static u32 *hdiov_db(struct hdiov_vdev *v, unsigned int i, unsigned int reg)
{
	return v->doorbells + (size_t)i * HDIOV_DB_PAGE + reg;
}

/* The CAPS bit an opcode needs (NOP needs none). */
static const u32 hdiov_op_caps[HDIOV_NR_OPS] = {
	[HDIOV_OP_NOP] = 0,
	[HDIOV_OP_COPY] = HDIOV_CAPS_COPY,
	[HDIOV_OP_FILL] = HDIOV_CAPS_FILL,
	[HDIOV_OP_CRC32C] = HDIOV_CAPS_CRC32C,
	[HDIOV_OP_COMPARE] = HDIOV_CAPS_COMPARE,
};

/*
 * A walk over the pages of one buffer of a descriptor: @pages[0] holds the
 * byte at @iova. hdiov_span() maps the page of byte @off of the buffer and
 * says how many bytes of it follow there.
 */
struct hdiov_buf {
	struct page **pages;
	u64 iova;
};

static void *hdiov_span(const struct hdiov_buf *b, u32 off, u32 *avail)
{
	u64 at = (b->iova & ~PAGE_MASK) + off;

	*avail = PAGE_SIZE - (at & ~PAGE_MASK);
	return kmap_local_page(b->pages[at >> PAGE_SHIFT]) + (at & ~PAGE_MASK);
}

static bool hdiov_overlap(u64 a, u64 b, u32 len)
{
	return a < b + len && b < a + len;
}

static void hdiov_copy(struct hdiov_engine *e, const struct hdiov_buf *dst,
		       const struct hdiov_buf *src, u32 len)
{
	u32 off, n, ds, ss;
	void *d, *s;

	if (hdiov_overlap(dst->iova, src->iova, len)) {
		/* memmove semantics: everything is read before anything is written. */
		for (off = 0; off < len; off += n) {
			s = hdiov_span(src, off, &ss);
			n = min(len - off, ss);
			memcpy(e->buf + off, s, n);
			kunmap_local(s);
		}
		for (off = 0; off < len; off += n) {
			d = hdiov_span(dst, off, &ds);
			n = min(len - off, ds);
			memcpy(d, e->buf + off, n);
			kunmap_local(d);
		}
		return;
	}
	for (off = 0; off < len; off += n) {
		d = hdiov_span(dst, off, &ds);
		s = hdiov_span(src, off, &ss);
		n = min3(len - off, ds, ss);
		memcpy(d, s, n);
		kunmap_local(s);
		kunmap_local(d);
	}
}

static void hdiov_fill(struct hdiov_engine *e, const struct hdiov_buf *dst,
		       u64 pattern, u32 len)
{
	u32 off, n, ds, i;
	void *d;

	for (i = 0; i < PAGE_SIZE + 8; i++)
		e->pattern[i] = pattern >> (8 * (i & 7));
	for (off = 0; off < len; off += n) {
		d = hdiov_span(dst, off, &ds);
		n = min(len - off, ds);
		memcpy(d, e->pattern + (off & 7), n);
		kunmap_local(d);
	}
}

static u32 hdiov_crc(const struct hdiov_buf *src, u32 seed, u32 len)
{
	u32 crc = ~seed, off, n, ss;
	void *s;

	for (off = 0; off < len; off += n) {
		s = hdiov_span(src, off, &ss);
		n = min(len - off, ss);
		crc = crc32c(crc, s, n);
		kunmap_local(s);
	}
	return ~crc;
}

/* 0 when equal, else 1 + the offset of the first difference. */
static u32 hdiov_compare(const struct hdiov_buf *a, const struct hdiov_buf *b,
			 u32 len)
{
	u32 off, n, as, bs, i, result = 0;
	u8 *x, *y;

	for (off = 0; off < len && !result; off += n) {
		x = hdiov_span(a, off, &as);
		y = hdiov_span(b, off, &bs);
		n = min3(len - off, as, bs);
		if (memcmp(x, y, n)) {
			for (i = 0; x[i] == y[i]; i++)
				;
			result = off + i + 1;
		}
		kunmap_local(y);
		kunmap_local(x);
	}
	return result;
}

/* Engine-internal status: the descriptor's pages are not all pinned yet. */
#define HDIOV_ST_NEED_PIN	0xff

/*
 * Look up the pinned pages of the descriptor's buffers. Returns
 * HDIOV_ST_OK when all are there, HDIOV_ST_DMA_FAULT for a range that wraps
 * the IOVA space, else HDIOV_ST_NEED_PIN with @req naming the ranges.
 */
static u8 hdiov_exec_pages(struct hdiov_engine *e, struct hdiov_vdev *v,
			   u64 src, u64 dst, u32 len, bool has_src,
			   bool has_dst, bool dst_write,
			   struct hdiov_pin_req *req)
{
	bool ok = true;

	if ((has_src && src + len - 1 < src) || (has_dst && dst + len - 1 < dst))
		return HDIOV_ST_DMA_FAULT;
	memset(req, 0, sizeof(*req));
	if (has_src) {
		req->iova[req->nr] = src;
		req->len[req->nr++] = len;
		ok = hdiov_pins_get(v, src, len, false, e->src);
	}
	if (has_dst) {
		req->iova[req->nr] = dst;
		req->write[req->nr] = dst_write;
		req->len[req->nr++] = len;
		ok = hdiov_pins_get(v, dst, len, dst_write, e->dst) && ok;
	}
	return ok ? HDIOV_ST_OK : HDIOV_ST_NEED_PIN;
}

/*
 * Execute one descriptor; returns its completion status, or
 * HDIOV_ST_NEED_PIN (nothing done) with @req naming the pages to pin.
 * Every page is pinned before any byte is written: a fault writes nothing.
 */
static u8 hdiov_exec(struct hdiov_engine *e, struct hdiov_vdev *v,
		     const struct hdiov_sqe *d, u32 *result,
		     struct hdiov_pin_req *req)
{
	u32 len = le32_to_cpu(d->len);
	u64 src = le64_to_cpu(d->src), dst = le64_to_cpu(d->dst);
	u64 pattern = le64_to_cpu(d->pattern);
	struct hdiov_buf s = { e->src, src }, t = { e->dst, dst };
	u8 st;

	*result = 0;
	if (d->opcode >= HDIOV_NR_OPS ||
	    (v->type->caps & hdiov_op_caps[d->opcode]) != hdiov_op_caps[d->opcode])
		return HDIOV_ST_BAD_OPCODE;
	if ((!len && d->opcode != HDIOV_OP_NOP) || len > HDIOV_MAX_XFER)
		return HDIOV_ST_BAD_LENGTH;

	switch (d->opcode) {
	case HDIOV_OP_COPY:
		st = hdiov_exec_pages(e, v, src, dst, len, true, true, true, req);
		if (st == HDIOV_ST_OK)
			hdiov_copy(e, &t, &s, len);
		return st;
	case HDIOV_OP_FILL:
		st = hdiov_exec_pages(e, v, 0, dst, len, false, true, true, req);
		if (st == HDIOV_ST_OK)
			hdiov_fill(e, &t, pattern, len);
		return st;
	case HDIOV_OP_CRC32C:
		/* Chained form: the seed is a previous result (0 to start). */
		st = hdiov_exec_pages(e, v, src, 0, len, true, false, false, req);
		if (st == HDIOV_ST_OK)
			*result = hdiov_crc(&s, lower_32_bits(pattern), len);
		return st;
	case HDIOV_OP_COMPARE:
		st = hdiov_exec_pages(e, v, src, dst, len, true, true, false, req);
		if (st == HDIOV_ST_OK)
			*result = hdiov_compare(&s, &t, len);
		return st;
	default:	/* NOP */
		return HDIOV_ST_OK;
	}
}

static void hdiov_qp_error(struct hdiov_qp *qp, u32 code)
{
	qp->status |= HDIOV_QP_STATUS_ERROR | (code << HDIOV_QP_STATUS_CODE_SHIFT);
}

/* An empty poll of QP @i; parks it after HDIOV_IDLE_POLLS of them. */
static bool hdiov_engine_idle(struct hdiov_vdev *v, unsigned int i)
{
	struct hdiov_qp *qp = &v->qps[i];

	if (++qp->idle < HDIOV_IDLE_POLLS)
		return true;
	WRITE_ONCE(*hdiov_db(v, i, HDIOV_DB_ENGINE_FLAGS), HDIOV_DB_NEED_KICK);
	/* Pairs with the driver's SQ_TAIL write before its NEED_KICK read. */
	smp_mb();
	if (READ_ONCE(*hdiov_db(v, i, HDIOV_DB_SQ_TAIL)) != qp->sq_head) {
		WRITE_ONCE(*hdiov_db(v, i, HDIOV_DB_ENGINE_FLAGS), 0);
		qp->idle = 0;
		return true;
	}
	qp->parked = true;
	return false;
}

/*
 * One visit's batch of a QP: snapshotted under hdiov_vdev.lock, executed
 * without it (the VDEV marked busy), published under it again.
 */
struct hdiov_batch {
	struct hdiov_qp *qp;
	unsigned int i;		/* the QP's index */
	u8 *sq;			/* the rings, mapped */
	struct hdiov_cqe *cq;
	u32 ring;		/* ring size, a power of two */
	u32 head;		/* SQ index of the first descriptor */
	u32 cq_tail;		/* CQ index of its completion */
	u32 n;			/* descriptors fetched (in e->sqes) */
	u32 done;		/* completions written */
	u32 irqs;		/* completions that asked for an interrupt */
	u32 bytes;		/* bytes moved by successful descriptors */
	u32 errors;		/* completions with an error status */
	bool need_pin;		/* stopped at descriptor done: pages missing */
	struct hdiov_pin_req req;
	bool fault_known;	/* the worker could not pin descriptor 0 */
};

/* Whether the engine may serve @qp now. */
static bool hdiov_qp_runnable(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	lockdep_assert_held(&v->lock);
	return v->open && !v->quiesce && !v->dma_stopped &&
	       (v->dev_ctrl & HDIOV_DEV_CTRL_ENABLE) &&
	       (qp->ctrl & HDIOV_QP_CTRL_ENABLE) &&
	       !(qp->status & HDIOV_QP_STATUS_ERROR) && qp->ring_size &&
	       qp->sq && qp->cq && !qp->parked && !qp->pin_wait;
}

/*
 * A full CQ parks its QP: no polls until CQ_HEAD moves, which a sweep every
 * HDIOV_CQ_FULL_SWEEP_MS (or a KICK) notices. Returns whether it is still full.
 */
static bool hdiov_cq_still_full(struct hdiov_vdev *v, unsigned int i,
				bool sweep, bool *cq_wait)
{
	struct hdiov_qp *qp = &v->qps[i];

	if (!qp->cq_full)
		return false;
	if (sweep &&
	    READ_ONCE(*hdiov_db(v, i, HDIOV_DB_CQ_HEAD)) != qp->cq_head_seen) {
		qp->cq_full = false;
		return false;
	}
	*cq_wait = true;
	return true;
}

/*
 * Check QP @i and its doorbells, and snapshot a batch of at most @budget
 * descriptors into @b. Returns false when there is nothing to do; sets
 * *@polling while the QP still wants polling, *@cq_wait while it waits for
 * CQ space.
 */
static bool hdiov_batch_start(struct hdiov_vdev *v, unsigned int i,
			      unsigned int budget, bool sweep, bool *polling,
			      bool *cq_wait, struct hdiov_batch *b)
{
	struct hdiov_qp *qp = &v->qps[i];
	u32 head, tail, used, ring, cq_head;

	lockdep_assert_held(&v->lock);
	if (hdiov_cq_still_full(v, i, sweep, cq_wait) ||
	    !hdiov_qp_runnable(v, qp))
		return false;
	head = qp->sq_head;
	tail = READ_ONCE(*hdiov_db(v, i, HDIOV_DB_SQ_TAIL));
	if (tail == head) {
		*polling |= hdiov_engine_idle(v, i);
		return false;
	}
	ring = qp->ring_size;
	if (tail - head > ring) {
		hdiov_qp_error(qp, HDIOV_QP_ERR_SQ_TAIL);
		return false;
	}
	cq_head = READ_ONCE(*hdiov_db(v, i, HDIOV_DB_CQ_HEAD));
	used = qp->cq_tail - cq_head;
	if (used >= ring) {
		/* Poll a while (the driver is reaping), then park. */
		if (++qp->idle < HDIOV_IDLE_POLLS) {
			*polling = true;
			return false;
		}
		qp->idle = 0;
		qp->cq_full = true;
		qp->cq_head_seen = cq_head;
		*cq_wait = true;
		return false;
	}
	*polling = true;
	qp->idle = 0;
	*b = (struct hdiov_batch) {
		.qp = qp,
		.i = i,
		.sq = qp->sq->base,
		.cq = qp->cq->base,
		.ring = ring,
		.head = head,
		.cq_tail = qp->cq_tail,
		.n = min3(tail - head, ring - used,
			  min_t(u32, budget, HDIOV_ENGINE_BATCH)),
	};
	/* The worker's answer for the descriptor the QP stopped at. */
	if (v->pin_req.nr && v->pin_req.done && v->pin_req.qp == i) {
		b->fault_known = v->pin_req.pos == head && v->pin_req.result;
		hdiov_pin_done(v);
	}
	/* The descriptors were written before SQ_TAIL. */
	smp_rmb();
	return true;
}

/* Read the batch's descriptors into e->sqes (two copies at the wrap). */
static void hdiov_batch_fetch(struct hdiov_engine *e, struct hdiov_batch *b)
{
	u32 k, idx, chunk;

	for (k = 0; k < b->n; k += chunk) {
		idx = (b->head + k) & (b->ring - 1);
		chunk = min(b->n - k, b->ring - idx);
		memcpy(&e->sqes[k], b->sq + (size_t)idx * HDIOV_SQE_SIZE,
		       (size_t)chunk * HDIOV_SQE_SIZE);
	}
}

/* Write the completion of descriptor @k: the phase bit goes last. */
static void hdiov_batch_complete(struct hdiov_engine *e, struct hdiov_batch *b,
				 u32 k, u8 status, u32 result)
{
	u32 pos = b->cq_tail + k;
	struct hdiov_cqe *c = &b->cq[pos & (b->ring - 1)];

	c->cookie = e->sqes[k].cookie;
	c->result = cpu_to_le32(result);
	c->status = status;
	c->rsvd = 0;
	/* The driver reads the phase bit, then the rest. */
	smp_wmb();
	WRITE_ONCE(c->flags, cpu_to_le16((pos & b->ring) ? 0 : HDIOV_CQE_PHASE));
}

/* Count completed descriptor @d with @status in the batch's totals. */
static void hdiov_batch_account(struct hdiov_batch *b,
				const struct hdiov_sqe *d, u8 status)
{
	b->done++;
	if (status == HDIOV_ST_OK && d->opcode != HDIOV_OP_NOP)
		b->bytes += le32_to_cpu(d->len);
	else if (status != HDIOV_ST_OK)
		b->errors++;
	if (d->flags & HDIOV_SQE_IRQ)
		b->irqs++;
}

/*
 * Execute the fetched descriptors in order, completing each as it finishes;
 * stop at one whose pages are not pinned yet.
 */
static void hdiov_batch_run(struct hdiov_engine *e, struct hdiov_vdev *v,
			    struct hdiov_batch *b)
{
	u32 k, result;
	u8 status;

	for (k = 0; k < b->n; k++) {
		if (READ_ONCE(b->qp->abort)) {
			status = HDIOV_ST_ABORTED;
			result = 0;
		} else {
			status = hdiov_exec(e, v, &e->sqes[k], &result, &b->req);
		}
		if (status == HDIOV_ST_NEED_PIN) {
			if (!(k == 0 && b->fault_known)) {
				b->need_pin = true;
				break;
			}
			status = HDIOV_ST_DMA_FAULT;
		}
		hdiov_batch_complete(e, b, k, status, result);
		hdiov_batch_account(b, &e->sqes[k], status);
	}
}

/* Add the batch to the VDEV's statistics. */
static void hdiov_batch_stats(struct hdiov_vdev *v,
			      const struct hdiov_batch *b)
{
	atomic64_add(b->done, &v->stats.submitted);
	atomic64_add(b->done, &v->stats.completed);
	atomic64_add(b->bytes, &v->stats.bytes);
	atomic64_add(b->errors, &v->stats.errors);
}

/* Publish SQ_HEAD and CQ_TAIL; signal the batch's interrupts; ask for pins. */
static void hdiov_batch_publish(struct hdiov_vdev *v,
				const struct hdiov_batch *b)
{
	struct hdiov_qp *qp = b->qp;
	unsigned int coalesce;

	lockdep_assert_held(&v->lock);
	qp->sq_head = b->head + b->done;
	qp->cq_tail = b->cq_tail + b->done;
	if (b->need_pin)
		hdiov_pin_request(v, b->i, qp->sq_head, &b->req);
	if (b->irqs && (qp->ctrl & HDIOV_QP_CTRL_IRQ_ENABLE)) {
		coalesce = max(qp->irq_coalesce, 1U);
		qp->irq_pending += b->irqs;
		while (qp->irq_pending >= coalesce) {
			qp->irq_pending -= coalesce;
			hdiov_irq_signal(v, qp->msix_vector);
		}
	}
}

/*
 * Serve QP @i of @v for at most @budget descriptors. Returns the number
 * processed; sets *@polling while the QP still wants polling. Never waits
 * for a VDEV's lock: a contended VDEV is skipped this round.
 */
static unsigned int hdiov_engine_qp(struct hdiov_engine *e,
				    struct hdiov_vdev *v, unsigned int i,
				    unsigned int budget, bool sweep,
				    bool *polling, bool *cq_wait)
{
	struct hdiov_batch b;

	if (!mutex_trylock(&v->lock)) {
		*polling = true;
		return 0;
	}
	if (!hdiov_batch_start(v, i, budget, sweep, polling, cq_wait, &b)) {
		mutex_unlock(&v->lock);
		return 0;
	}
	v->busy = true;
	mutex_unlock(&v->lock);

	hdiov_batch_fetch(e, &b);
	hdiov_batch_run(e, v, &b);
	hdiov_batch_stats(v, &b);

	mutex_lock(&v->lock);
	hdiov_batch_publish(v, &b);
	v->busy = false;
	wake_up_all(&v->idle_wq);
	mutex_unlock(&v->lock);
	return max(b.done, 1U);
}

/* One visit to @v: its QPs, round robin, within its weighted budget. */
static unsigned int hdiov_engine_visit(struct hdiov_engine *e,
				       struct hdiov_vdev *v, bool sweep,
				       bool *polling, bool *cq_wait)
{
	unsigned int budget = READ_ONCE(v->weight) * HDIOV_WEIGHT_BUDGET;
	unsigned int nr = v->nr_qps, start = v->next_qp, work = 0, i;

	if (!nr)
		return 0;
	for (i = 0; i < nr && work < budget; i++)
		work += hdiov_engine_qp(e, v, (start + i) % nr, budget - work,
					sweep, polling, cq_wait);
	v->next_qp = (start + 1) % nr;
	return work;
}

static bool hdiov_engine_woken(struct hdiov_engine *e)
{
	return atomic_xchg(&e->kicked, 0) || kthread_should_stop();
}

static int hdiov_engine_fn(void *data)
{
	struct hdiov_engine *e = data;
	unsigned long next_sweep = jiffies;
	bool polling, cq_wait, sweep;
	struct hdiov_vdev *v;
	unsigned int work;

	while (!kthread_should_stop()) {
		work = 0;
		polling = false;
		cq_wait = false;
		sweep = time_after_eq(jiffies, next_sweep);
		if (sweep)
			next_sweep = jiffies + msecs_to_jiffies(HDIOV_CQ_FULL_SWEEP_MS);
		mutex_lock(&e->lock);
		list_for_each_entry(v, &e->vdevs, engine_node) {
			work += hdiov_engine_visit(e, v, sweep, &polling,
						   &cq_wait);
			cond_resched();
		}
		mutex_unlock(&e->lock);
		if (work) {
			e->last_work = ktime_get_ns();
			continue;
		}
		if (polling) {
			/* Spin a while after work, so one-at-a-time submitters see no wake-up. */
			if (ktime_get_ns() - e->last_work <
			    (u64)min(READ_ONCE(spin_us), 1000U) * NSEC_PER_USEC)
				cpu_relax();
			else
				usleep_range(20, 50);
			continue;
		}
		if (cq_wait)
			wait_event_idle_timeout(e->wq, hdiov_engine_woken(e),
						msecs_to_jiffies(HDIOV_CQ_FULL_SWEEP_MS));
		else
			wait_event_idle(e->wq, hdiov_engine_woken(e));
	}
	return 0;
}

static void hdiov_engine_wake(struct hdiov_engine *e)
{
	atomic_set(&e->kicked, 1);
	wake_up(&e->wq);
}

/* Start polling QP @i again (KICK, trapped SQ_TAIL, enable). vdev.lock held. */
void hdiov_engine_kick(struct hdiov_vdev *v, unsigned int i)
{
	struct hdiov_qp *qp = &v->qps[i];

	lockdep_assert_held(&v->lock);
	qp->parked = false;
	qp->cq_full = false;
	qp->idle = 0;
	WRITE_ONCE(*hdiov_db(v, i, HDIOV_DB_ENGINE_FLAGS), 0);
	if (v->engine)
		hdiov_engine_wake(v->engine);
}

/*
 * Stop the engine's work on @v before a reset: QP @qp, or every QP when
 * @qp is negative, aborts its in-flight descriptors. Called with vdev.lock
 * held; drops it while waiting, and returns with it held and the VDEV idle.
 */
void hdiov_engine_quiesce(struct hdiov_vdev *v, int qp)
{
	unsigned int i;

	lockdep_assert_held(&v->lock);
	for (i = 0; i < v->nr_qps; i++) {
		if (qp < 0 || i == qp)
			WRITE_ONCE(v->qps[i].abort, true);
	}
	v->quiesce++;
	while (v->busy) {
		mutex_unlock(&v->lock);
		wait_event(v->idle_wq, !READ_ONCE(v->busy));
		mutex_lock(&v->lock);
	}
	v->quiesce--;
}

/*
 * Keep the engine off @v: returns once no batch of it runs, and none starts
 * until hdiov_engine_unhold(). vdev.lock held (dropped while waiting).
 */
void hdiov_engine_hold(struct hdiov_vdev *v)
{
	lockdep_assert_held(&v->lock);
	v->quiesce++;
	while (v->busy) {
		mutex_unlock(&v->lock);
		wait_event(v->idle_wq, !READ_ONCE(v->busy));
		mutex_lock(&v->lock);
	}
}

void hdiov_engine_unhold(struct hdiov_vdev *v)
{
	unsigned int i;

	lockdep_assert_held(&v->lock);
	if (--v->quiesce)
		return;
	for (i = 0; i < v->nr_qps; i++)
		hdiov_engine_kick(v, i);
}

/*
 * Stop DMA for QP @qp (every QP when negative) of @v, as a disable requires
 * (QP_CTRL.ENABLE or DEV_CTRL.ENABLE cleared, Bus Master cleared): descriptors
 * in flight complete with ABORTED before this returns, and nothing runs for
 * the QP afterwards while it stays disabled. vdev.lock held (dropped while
 * waiting, as in hdiov_engine_quiesce()).
 */
void hdiov_engine_stop(struct hdiov_vdev *v, int qp)
{
	unsigned int i;

	lockdep_assert_held(&v->lock);
	hdiov_engine_quiesce(v, qp);
	for (i = 0; i < v->nr_qps; i++) {
		if (qp < 0 || i == qp)
			WRITE_ONCE(v->qps[i].abort, false);
	}
}

/* An opened VDEV joins an engine thread. Without vdev.lock. */
void hdiov_engine_attach(struct hdiov_vdev *v)
{
	struct hdiov_engine *e;
	unsigned int n = atomic_inc_return(&hdiov_engine_next);

	e = &hdiov_engines[n % hdiov_nr_engines];
	mutex_lock(&e->lock);
	list_add_tail(&v->engine_node, &e->vdevs);
	mutex_lock(&v->lock);
	v->engine = e;
	mutex_unlock(&v->lock);
	mutex_unlock(&e->lock);
	hdiov_engine_wake(e);
}

/* A closing VDEV leaves its engine; no visit to it runs after this. */
void hdiov_engine_detach(struct hdiov_vdev *v)
{
	struct hdiov_engine *e;

	mutex_lock(&v->lock);
	e = v->engine;
	v->engine = NULL;
	mutex_unlock(&v->lock);
	if (!e)
		return;
	mutex_lock(&e->lock);
	list_del_init(&v->engine_node);
	mutex_unlock(&e->lock);
}

void hdiov_engines_stop(void)
{
	unsigned int i;

	for (i = 0; i < hdiov_nr_engines; i++) {
		struct hdiov_engine *e = &hdiov_engines[i];

		if (e->task)
			kthread_stop(e->task);
		kvfree(e->buf);
		kfree(e->pattern);
		kfree(e->src);
		kfree(e->dst);
		mutex_destroy(&e->lock);
	}
	kfree(hdiov_engines);
	hdiov_engines = NULL;
	hdiov_nr_engines = 0;
}

int hdiov_engines_start(void)
{
	unsigned int i;
	int ret;

	if (engine_threads < 1 || engine_threads > HDIOV_ENGINE_MAX_THREADS) {
		pr_err("engine_threads=%u: must be 1 to %u\n", engine_threads,
		       HDIOV_ENGINE_MAX_THREADS);
		return -EINVAL;
	}
	hdiov_engines = kcalloc(engine_threads, sizeof(*hdiov_engines),
				GFP_KERNEL);
	if (!hdiov_engines)
		return -ENOMEM;
	hdiov_nr_engines = engine_threads;
	for (i = 0; i < hdiov_nr_engines; i++) {
		mutex_init(&hdiov_engines[i].lock);
		INIT_LIST_HEAD(&hdiov_engines[i].vdevs);
		init_waitqueue_head(&hdiov_engines[i].wq);
	}
	for (i = 0; i < hdiov_nr_engines; i++) {
		struct hdiov_engine *e = &hdiov_engines[i];

		e->buf = kvmalloc(HDIOV_MAX_XFER, GFP_KERNEL);
		e->pattern = kmalloc(PAGE_SIZE + 8, GFP_KERNEL);
		e->src = kcalloc(HDIOV_XFER_PAGES, sizeof(*e->src), GFP_KERNEL);
		e->dst = kcalloc(HDIOV_XFER_PAGES, sizeof(*e->dst), GFP_KERNEL);
		if (!e->buf || !e->pattern || !e->src || !e->dst) {
			ret = -ENOMEM;
			goto err;
		}
		e->task = kthread_run(hdiov_engine_fn, e, "%s/%u",
				      KBUILD_MODNAME, i);
		if (IS_ERR(e->task)) {
			ret = PTR_ERR(e->task);
			e->task = NULL;
			goto err;
		}
	}
	return 0;
err:
	hdiov_engines_stop();
	return ret;
}
