// SPDX-License-Identifier: GPL-2.0
/*
 * HD-IOV engine: the data path (contract sections 6 and 7).
 *
 * engine_threads kthreads each serve a set of open VDEVs. A thread polls the
 * doorbell pages of the enabled QPs of its enabled VDEVs, fetches
 * descriptors from the SQ, executes them with vfio_dma_rw() in the VDEV's
 * own IOVA space and writes completions to the CQ. VDEVs get a budget of
 * descriptors per round in proportion to their weight (weighted round
 * robin). A QP that stays empty for HDIOV_IDLE_POLLS polls gets NEED_KICK
 * and is not polled again until KICK or a trapped SQ_TAIL write; a thread
 * with nothing to poll sleeps on its waitqueue.
 *
 * Locking, in the only order it is ever taken (see hdiov.h):
 *   hdiov_engine.lock  ->  hdiov_vdev.lock  ->  hdiov_parent.lock
 *                                           ->  mmap_lock
 * hdiov_engine.lock protects the thread's VDEV list. The thread holds it for
 * a whole round, so hdiov_engine_detach() (at close) returns only once no
 * visit to the VDEV is in progress; the VDEV is never touched after that.
 * A visit to a QP takes hdiov_vdev.lock to decide and snapshot its work,
 * marks the VDEV busy, drops the lock for the DMA (vfio_dma_rw(), which
 * may take mmap_lock under hdiov_engine.lock), and takes it again to
 * publish SQ_HEAD, CQ_TAIL and interrupts and to clear busy. A reset calls
 * hdiov_engine_quiesce() with hdiov_vdev.lock held: it marks the QPs to
 * abort and sleeps without the lock until the VDEV is not busy; meanwhile
 * the engine completes the rest of its batch with status ABORTED.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/crc32c.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/wait.h>

#include "hdiov.h"

#define HDIOV_ENGINE_BATCH	32
#define HDIOV_ENGINE_MAX_THREADS	64
#define HDIOV_WEIGHT_BUDGET	4	/* descriptors per round per weight unit */

static unsigned int engine_threads = HDIOV_ENGINE_THREADS;
module_param(engine_threads, uint, 0444);
MODULE_PARM_DESC(engine_threads, "Engine kthreads (1-64)");

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
	u8 *buf;			/* HDIOV_MAX_XFER bytes */
	u8 *scratch;			/* PAGE_SIZE bytes */
	struct hdiov_sqe sqes[HDIOV_ENGINE_BATCH];
};

static struct hdiov_engine *hdiov_engines;
static unsigned int hdiov_nr_engines;
static atomic_t hdiov_engine_next = ATOMIC_INIT(0);

static u32 *hdiov_db(struct hdiov_vdev *v, unsigned int i, unsigned int reg)
{
	return v->doorbells + (size_t)i * HDIOV_DB_PAGE + reg;
}

static int hdiov_dma(struct hdiov_vdev *v, u64 iova, void *buf, size_t len,
		     bool write)
{
	if (iova + len < iova)
		return -EFAULT;
	return vfio_dma_rw(&v->vdev, iova, buf, len, write);
}

/* Check that @len bytes at @iova are mapped, writing nothing: read a byte per page. */
static int hdiov_probe(struct hdiov_vdev *v, u64 iova, u32 len)
{
	u64 end = iova + len - 1, a = iova;
	u8 b;
	int ret;

	if (end < iova)
		return -EFAULT;
	for (;;) {
		ret = vfio_dma_rw(&v->vdev, a, &b, 1, false);
		if (ret)
			return ret;
		if ((a | (PAGE_SIZE - 1)) >= end)
			return 0;
		a = (a | (PAGE_SIZE - 1)) + 1;
	}
}

/* The CAPS bit an opcode needs (NOP needs none). */
static const u32 hdiov_op_caps[HDIOV_NR_OPS] = {
	[HDIOV_OP_NOP] = 0,
	[HDIOV_OP_COPY] = HDIOV_CAPS_COPY,
	[HDIOV_OP_FILL] = HDIOV_CAPS_FILL,
	[HDIOV_OP_CRC32C] = HDIOV_CAPS_CRC32C,
	[HDIOV_OP_COMPARE] = HDIOV_CAPS_COMPARE,
};

/* Execute one descriptor; returns its completion status. */
static u8 hdiov_exec(struct hdiov_engine *e, struct hdiov_vdev *v,
		     const struct hdiov_sqe *d, u32 *result)
{
	u32 len = le32_to_cpu(d->len), i, n, off;
	u64 src = le64_to_cpu(d->src), dst = le64_to_cpu(d->dst);
	u64 pattern = le64_to_cpu(d->pattern);

	*result = 0;
	if (d->opcode >= HDIOV_NR_OPS ||
	    (v->type->caps & hdiov_op_caps[d->opcode]) != hdiov_op_caps[d->opcode])
		return HDIOV_ST_BAD_OPCODE;
	if ((!len && d->opcode != HDIOV_OP_NOP) || len > HDIOV_MAX_XFER)
		return HDIOV_ST_BAD_LENGTH;

	switch (d->opcode) {
	case HDIOV_OP_COPY:
		if (hdiov_dma(v, src, e->buf, len, false) ||
		    hdiov_probe(v, dst, len) ||
		    hdiov_dma(v, dst, e->buf, len, true))
			return HDIOV_ST_DMA_FAULT;
		break;
	case HDIOV_OP_FILL:
		if (hdiov_probe(v, dst, len))
			return HDIOV_ST_DMA_FAULT;
		for (i = 0; i < len; i++)
			e->buf[i] = pattern >> (8 * (i & 7));
		if (hdiov_dma(v, dst, e->buf, len, true))
			return HDIOV_ST_DMA_FAULT;
		break;
	case HDIOV_OP_CRC32C:
		if (hdiov_dma(v, src, e->buf, len, false))
			return HDIOV_ST_DMA_FAULT;
		/* Chained form: the seed is a previous result (0 to start). */
		*result = ~crc32c(~lower_32_bits(pattern), e->buf, len);
		break;
	case HDIOV_OP_COMPARE:
		if (hdiov_dma(v, src, e->buf, len, false))
			return HDIOV_ST_DMA_FAULT;
		for (off = 0; off < len; off += n) {
			n = min_t(u32, len - off, PAGE_SIZE);
			if (hdiov_dma(v, dst + off, e->scratch, n, false))
				return HDIOV_ST_DMA_FAULT;
			for (i = 0; i < n; i++) {
				if (e->buf[off + i] != e->scratch[i]) {
					*result = off + i + 1;
					return HDIOV_ST_OK;
				}
			}
		}
		break;
	default:	/* NOP */
		break;
	}
	return HDIOV_ST_OK;
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
 * without it, published under it again.
 */
struct hdiov_batch {
	struct hdiov_qp *qp;
	u64 sq_base;
	u64 cq_base;
	u32 ring;		/* ring size, a power of two */
	u32 head;		/* SQ index of the first descriptor */
	u32 cq_tail;		/* CQ index of its completion */
	u32 n;			/* descriptors fetched (in e->sqes) */
	u32 done;		/* completions written */
	u32 err;		/* QP error code, 0 while none */
	u32 irqs;		/* completions that asked for an interrupt */
	u32 bytes;		/* bytes moved by successful descriptors */
	u32 errors;		/* completions with an error status */
};

/* Whether the engine may serve @qp now. */
static bool hdiov_qp_runnable(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	lockdep_assert_held(&v->lock);
	return v->open && !v->quiesce &&
	       (v->dev_ctrl & HDIOV_DEV_CTRL_ENABLE) &&
	       (qp->ctrl & HDIOV_QP_CTRL_ENABLE) &&
	       !(qp->status & HDIOV_QP_STATUS_ERROR) && qp->ring_size &&
	       !qp->parked;
}

/*
 * Check and validate QP @i and its doorbells, and snapshot a batch of at most
 * @budget descriptors into @b. Returns false when there is nothing to do;
 * sets *@polling while the QP still wants polling.
 */
static bool hdiov_batch_start(struct hdiov_vdev *v, unsigned int i,
			      unsigned int budget, bool *polling,
			      struct hdiov_batch *b)
{
	struct hdiov_qp *qp = &v->qps[i];
	u32 head, tail, used, ring;

	lockdep_assert_held(&v->lock);
	if (!hdiov_qp_runnable(v, qp))
		return false;
	head = qp->sq_head;
	tail = READ_ONCE(*hdiov_db(v, i, HDIOV_DB_SQ_TAIL));
	if (tail == head) {
		*polling |= hdiov_engine_idle(v, i);
		return false;
	}
	*polling = true;
	qp->idle = 0;
	ring = qp->ring_size;
	if (tail - head > ring) {
		hdiov_qp_error(qp, HDIOV_QP_ERR_SQ_TAIL);
		return false;
	}
	used = qp->cq_tail - READ_ONCE(*hdiov_db(v, i, HDIOV_DB_CQ_HEAD));
	if (used >= ring)
		return false;	/* CQ full: wait for the driver */
	*b = (struct hdiov_batch) {
		.qp = qp,
		.sq_base = qp->sq_base,
		.cq_base = qp->cq_base,
		.ring = ring,
		.head = head,
		.cq_tail = qp->cq_tail,
		.n = min3(tail - head, ring - used,
			  min_t(u32, budget, HDIOV_ENGINE_BATCH)),
	};
	return true;
}

/* Read the batch's descriptors into e->sqes: one DMA read, two at the wrap. */
static void hdiov_batch_fetch(struct hdiov_engine *e, struct hdiov_vdev *v,
			      struct hdiov_batch *b)
{
	u32 k, idx, chunk;

	for (k = 0; k < b->n; k += chunk) {
		idx = (b->head + k) & (b->ring - 1);
		chunk = min(b->n - k, b->ring - idx);
		if (hdiov_dma(v, b->sq_base + (u64)idx * HDIOV_SQE_SIZE,
			      &e->sqes[k], (size_t)chunk * HDIOV_SQE_SIZE,
			      false)) {
			b->err = HDIOV_QP_ERR_SQ_FAULT;
			return;
		}
	}
}

/*
 * Write the completion of descriptor @k, with the cookie of entry k+1 in the
 * same DMA write (struct hdiov_cqe_write). Returns false when entry k could
 * not be completed; sets b->err on any fault.
 */
static bool hdiov_batch_complete(struct hdiov_engine *e, struct hdiov_vdev *v,
				 struct hdiov_batch *b, u32 k, u8 status,
				 u32 result)
{
	u32 pos = b->cq_tail + k, idx = pos & (b->ring - 1);
	u64 at = b->cq_base + (u64)idx * HDIOV_CQE_SIZE +
		 offsetof(struct hdiov_cqe, result);
	size_t half = offsetof(struct hdiov_cqe_write, next_cookie);
	struct hdiov_cqe_write cw;
	size_t len = half;

	cw.result = cpu_to_le32(result);
	cw.status = status;
	cw.rsvd = 0;
	cw.flags = cpu_to_le16((pos & b->ring) ? 0 : HDIOV_CQE_PHASE);
	if (k + 1 < b->n && idx + 1 < b->ring) {
		cw.next_cookie = e->sqes[k + 1].cookie;
		len = sizeof(cw);
	}
	if (hdiov_dma(v, at, &cw, len, true)) {
		b->err = HDIOV_QP_ERR_CQ_FAULT;
		/* Entry k+1 is unmapped: complete entry k alone, then stop. */
		if (len == half || hdiov_dma(v, at, &cw, half, true))
			return false;
	}
	/* At the ring's end the next cookie goes to entry 0 on its own. */
	if (!b->err && k + 1 < b->n && idx + 1 == b->ring &&
	    hdiov_dma(v, b->cq_base, &e->sqes[k + 1].cookie, sizeof(__le64),
		      true))
		b->err = HDIOV_QP_ERR_CQ_FAULT;
	return true;
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

/* Execute the fetched descriptors in order, completing each as it finishes. */
static void hdiov_batch_run(struct hdiov_engine *e, struct hdiov_vdev *v,
			    struct hdiov_batch *b)
{
	u32 k, result;
	u8 status;

	/* The first completion's cookie; each later one rides with its predecessor. */
	if (!b->err &&
	    hdiov_dma(v, b->cq_base + (u64)(b->cq_tail & (b->ring - 1)) *
		      HDIOV_CQE_SIZE, &e->sqes[0].cookie, sizeof(__le64), true))
		b->err = HDIOV_QP_ERR_CQ_FAULT;
	for (k = 0; !b->err && k < b->n; k++) {
		if (READ_ONCE(b->qp->abort)) {
			status = HDIOV_ST_ABORTED;
			result = 0;
		} else {
			status = hdiov_exec(e, v, &e->sqes[k], &result);
		}
		if (!hdiov_batch_complete(e, v, b, k, status, result))
			break;
		hdiov_batch_account(b, &e->sqes[k], status);
	}
}

/* Add the batch to the VDEV's statistics. */
static void hdiov_batch_stats(struct hdiov_vdev *v,
			      const struct hdiov_batch *b)
{
	atomic64_add(b->err == HDIOV_QP_ERR_SQ_FAULT ? 0 : b->n,
		     &v->stats.submitted);
	atomic64_add(b->done, &v->stats.completed);
	atomic64_add(b->bytes, &v->stats.bytes);
	atomic64_add(b->errors, &v->stats.errors);
}

/* Publish SQ_HEAD, CQ_TAIL and any QP error; signal the batch's interrupts. */
static void hdiov_batch_publish(struct hdiov_vdev *v,
				const struct hdiov_batch *b)
{
	struct hdiov_qp *qp = b->qp;
	unsigned int coalesce;

	lockdep_assert_held(&v->lock);
	qp->sq_head = b->head + b->done;
	qp->cq_tail = b->cq_tail + b->done;
	if (b->err)
		hdiov_qp_error(qp, b->err);
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
 * processed; sets *@polling while the QP still wants polling.
 */
static unsigned int hdiov_engine_qp(struct hdiov_engine *e,
				    struct hdiov_vdev *v, unsigned int i,
				    unsigned int budget, bool *polling)
{
	struct hdiov_batch b;

	mutex_lock(&v->lock);
	if (!hdiov_batch_start(v, i, budget, polling, &b)) {
		mutex_unlock(&v->lock);
		return 0;
	}
	v->busy = true;
	mutex_unlock(&v->lock);

	hdiov_batch_fetch(e, v, &b);
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
				       struct hdiov_vdev *v, bool *polling)
{
	unsigned int budget = READ_ONCE(v->weight) * HDIOV_WEIGHT_BUDGET;
	unsigned int nr = v->nr_qps, start = v->next_qp, work = 0, i;

	if (!nr)
		return 0;
	for (i = 0; i < nr && work < budget; i++)
		work += hdiov_engine_qp(e, v, (start + i) % nr, budget - work,
					polling);
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
	struct hdiov_vdev *v;
	unsigned int work;
	bool polling;

	while (!kthread_should_stop()) {
		work = 0;
		polling = false;
		mutex_lock(&e->lock);
		list_for_each_entry(v, &e->vdevs, engine_node)
			work += hdiov_engine_visit(e, v, &polling);
		mutex_unlock(&e->lock);
		if (work) {
			cond_resched();
			continue;
		}
		if (polling) {
			usleep_range(20, 50);
			continue;
		}
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
		kfree(e->scratch);
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
		e->scratch = kmalloc(PAGE_SIZE, GFP_KERNEL);
		if (!e->buf || !e->scratch) {
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
