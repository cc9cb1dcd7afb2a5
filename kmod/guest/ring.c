// SPDX-License-Identifier: GPL-2.0
/*
 * One queue pair: rings in DMA memory, the doorbell page, completions.
 *
 * The driver keeps at most RING_SIZE entries outstanding (SQ_TAIL - CQ_HEAD),
 * so the device never finds the CQ full for long. Every job's last entry asks
 * for an interrupt; the interrupt schedules the QP's tasklet, which consumes
 * completions in order and completes jobs with no lock held.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/slab.h>

#include "guest.h"

static bool hdg_qp_phase(struct hdg_qp *qp, u32 index)
{
	/* The device's PHASE starts at 1 and flips each time the CQ wraps. */
	return !((index / qp->size) & 1);
}

/* Move queued jobs into the SQ while they fit; ring the doorbell once. */
static void hdg_qp_push(struct hdg_qp *qp)
{
	struct hdg_job *job, *tmp;
	u32 start = qp->sq_tail;
	unsigned int i;

	lockdep_assert_held(&qp->lock);
	if (qp->dead)
		return;
	list_for_each_entry_safe(job, tmp, &qp->queued, node) {
		if (qp->sq_tail - qp->cq_head + job->nr_sqe > qp->size)
			break;
		for (i = 0; i < job->nr_sqe; i++) {
			struct hdiov_sqe *sqe;

			sqe = &qp->sq[qp->sq_tail & (qp->size - 1)];
			memset(sqe, 0, sizeof(*sqe));
			job->fill(job, i, sqe);
			if (i == job->nr_sqe - 1)
				sqe->flags |= HDIOV_SQE_IRQ;
			sqe->cookie = cpu_to_le64(qp->sq_tail);
			qp->sq_tail++;
		}
		list_move_tail(&job->node, &qp->inflight);
	}
	if (qp->sq_tail == start)
		return;
	/* writel orders the ring stores before the doorbell. */
	writel(qp->sq_tail, qp->db + HDIOV_DB_SQ_TAIL);
	if (readl(qp->db + HDIOV_DB_ENGINE_FLAGS) & HDIOV_DB_NEED_KICK)
		hdg_wr(qp->hd, HDIOV_REG_KICK, qp->index);
}

/**
 * hdg_qp_queue - hand a job to a QP
 * @qp: the queue pair
 * @job: nr_sqe, fill and complete set; nr_sqe at most the ring size
 *
 * Return: 0, or -ENODEV when the QP no longer takes work (the job is not
 * queued and its completion is not called).
 */
int hdg_qp_queue(struct hdg_qp *qp, struct hdg_job *job)
{
	unsigned long flags;
	int ret = 0;

	if (WARN_ON_ONCE(!job->nr_sqe || job->nr_sqe > qp->size))
		return -EINVAL;
	job->qp = qp;
	job->done = 0;
	job->status = HDIOV_ST_OK;
	job->result = 0;
	spin_lock_irqsave(&qp->lock, flags);
	if (qp->dead) {
		ret = -ENODEV;
	} else {
		list_add_tail(&job->node, &qp->queued);
		hdg_qp_push(qp);
	}
	spin_unlock_irqrestore(&qp->lock, flags);
	return ret;
}

/* Take back a job that is still waiting for ring space; false if in flight. */
bool hdg_qp_unqueue(struct hdg_qp *qp, struct hdg_job *job)
{
	struct hdg_job *pos;
	unsigned long flags;
	bool found = false;

	spin_lock_irqsave(&qp->lock, flags);
	list_for_each_entry(pos, &qp->queued, node) {
		if (pos == job) {
			list_del(&job->node);
			found = true;
			break;
		}
	}
	spin_unlock_irqrestore(&qp->lock, flags);
	return found;
}

/* Consume new completions; finished jobs move to @done. */
static void hdg_qp_reap(struct hdg_qp *qp, struct list_head *done)
{
	u32 start = qp->cq_head;

	lockdep_assert_held(&qp->lock);
	while (qp->cq_head != qp->sq_tail) {
		struct hdiov_cqe *cqe = &qp->cq[qp->cq_head & (qp->size - 1)];
		struct hdg_job *job;
		bool phase;

		phase = le16_to_cpu(READ_ONCE(cqe->flags)) & HDIOV_CQE_PHASE;
		if (phase != hdg_qp_phase(qp, qp->cq_head))
			break;
		/* The entry's other fields are read after its phase. */
		dma_rmb();
		job = list_first_entry_or_null(&qp->inflight, struct hdg_job,
					       node);
		if (le64_to_cpu(cqe->cookie) != qp->cq_head || !job) {
			dev_err_ratelimited(&qp->hd->pdev->dev,
					    "QP %u: completion %u carries cookie %llu; stopping the QP\n",
					    qp->index, qp->cq_head,
					    le64_to_cpu(cqe->cookie));
			qp->dead = true;
			break;
		}
		if (cqe->status != HDIOV_ST_OK && job->status == HDIOV_ST_OK)
			job->status = cqe->status;
		job->result = le32_to_cpu(cqe->result);
		qp->cq_head++;
		if (++job->done == job->nr_sqe)
			list_move_tail(&job->node, done);
	}
	if (qp->cq_head != start)
		writel(qp->cq_head, qp->db + HDIOV_DB_CQ_HEAD);
}

static void hdg_complete_list(struct hdg_qp *qp, struct list_head *done)
{
	struct hdg_dev *hd = qp->hd;
	struct hdg_job *job, *tmp;

	if (!list_empty(done) && !atomic_xchg(&hd->first_done, 1))
		dev_info(&hd->pdev->dev, "first completion %lld us after probe began\n",
			 ktime_us_delta(ktime_get(), hd->probed));

	list_for_each_entry_safe(job, tmp, done, node) {
		list_del_init(&job->node);
		job->complete(job);
	}
}

static void hdg_qp_tasklet(struct tasklet_struct *t)
{
	struct hdg_qp *qp = from_tasklet(qp, t, tasklet);
	unsigned long flags;
	LIST_HEAD(done);

	spin_lock_irqsave(&qp->lock, flags);
	/* A stopped QP's last completions are taken by hdg_qp_stop. */
	if (!qp->dead) {
		hdg_qp_reap(qp, &done);
		hdg_qp_push(qp);
	}
	spin_unlock_irqrestore(&qp->lock, flags);
	hdg_complete_list(qp, &done);
}

irqreturn_t hdg_qp_irq(int irq, void *data)
{
	struct hdg_qp *qp = data;

	tasklet_schedule(&qp->tasklet);
	return IRQ_HANDLED;
}

/**
 * hdg_qp_start - allocate the rings of QP @index and enable it
 * @hd: the device
 * @qp: zeroed storage for the QP
 * @index: QP index on the device
 * @size: ring entries, a power of two in [HDIOV_MIN_RING, MAX_RING]
 *
 * Return: 0 or a negative errno; nothing is left allocated on error.
 */
int hdg_qp_start(struct hdg_dev *hd, struct hdg_qp *qp, unsigned int index,
		 u32 size)
{
	struct device *dev = &hd->pdev->dev;
	u32 status;

	qp->hd = hd;
	qp->index = index;
	qp->size = size;
	qp->vector = HDIOV_MSIX_QP_VECTOR_BASE + index;
	qp->db = hd->bar2 + index * HDIOV_DB_PAGE;
	spin_lock_init(&qp->lock);
	INIT_LIST_HEAD(&qp->queued);
	INIT_LIST_HEAD(&qp->inflight);
	tasklet_setup(&qp->tasklet, hdg_qp_tasklet);

	qp->sq = dma_alloc_coherent(dev, size * HDIOV_SQE_SIZE, &qp->sq_dma,
				    GFP_KERNEL);
	qp->cq = dma_alloc_coherent(dev, size * HDIOV_CQE_SIZE, &qp->cq_dma,
				    GFP_KERNEL);
	if (!qp->sq || !qp->cq) {
		hdg_qp_free(qp);
		return -ENOMEM;
	}

	/* A clean QP: reset, then program while disabled. */
	hdg_wr(hd, hdg_qp_reg(index, HDIOV_QP_CTRL), HDIOV_QP_CTRL_RESET);
	hdg_wr(hd, hdg_qp_reg(index, HDIOV_QP_SQ_BASE_LO), lower_32_bits(qp->sq_dma));
	hdg_wr(hd, hdg_qp_reg(index, HDIOV_QP_SQ_BASE_HI), upper_32_bits(qp->sq_dma));
	hdg_wr(hd, hdg_qp_reg(index, HDIOV_QP_CQ_BASE_LO), lower_32_bits(qp->cq_dma));
	hdg_wr(hd, hdg_qp_reg(index, HDIOV_QP_CQ_BASE_HI), upper_32_bits(qp->cq_dma));
	hdg_wr(hd, hdg_qp_reg(index, HDIOV_QP_RING_SIZE), size);
	hdg_wr(hd, hdg_qp_reg(index, HDIOV_QP_MSIX_VECTOR), qp->vector);
	hdg_wr(hd, hdg_qp_reg(index, HDIOV_QP_IRQ_COALESCE), 0);
	/* The device's counters restart at 0 with the reset. */
	qp->sq_tail = hdg_rd(hd, hdg_qp_reg(index, HDIOV_QP_SQ_HEAD));
	qp->cq_head = hdg_rd(hd, hdg_qp_reg(index, HDIOV_QP_CQ_TAIL));
	if (qp->sq_tail || qp->cq_head) {
		dev_err(dev, "QP %u: SQ_HEAD %u, CQ_TAIL %u after reset (expected 0)\n",
			index, qp->sq_tail, qp->cq_head);
		hdg_qp_free(qp);
		return -EIO;
	}
	writel(0, qp->db + HDIOV_DB_SQ_TAIL);
	writel(0, qp->db + HDIOV_DB_CQ_HEAD);
	hdg_wr(hd, hdg_qp_reg(index, HDIOV_QP_CTRL),
	       HDIOV_QP_CTRL_ENABLE | HDIOV_QP_CTRL_IRQ_ENABLE);
	status = hdg_rd(hd, hdg_qp_reg(index, HDIOV_QP_STATUS));
	if (!(status & HDIOV_QP_STATUS_ENABLED) ||
	    (status & HDIOV_QP_STATUS_ERROR)) {
		dev_err(dev, "QP %u: QP_STATUS %#x after enabling\n", index,
			status);
		hdg_wr(hd, hdg_qp_reg(index, HDIOV_QP_CTRL), 0);
		hdg_qp_free(qp);
		return -EIO;
	}
	return 0;
}

/*
 * Stop a QP: no new work; the device, once QP_CTRL's write returns, touches
 * no more memory for it (contract section 8). Completions it wrote are
 * delivered; every job left is completed with ABORTED.
 */
void hdg_qp_stop(struct hdg_qp *qp)
{
	struct hdg_dev *hd = qp->hd;
	struct hdg_job *job, *tmp;
	unsigned long flags;
	LIST_HEAD(done);

	spin_lock_irqsave(&qp->lock, flags);
	qp->dead = true;
	spin_unlock_irqrestore(&qp->lock, flags);

	hdg_wr(hd, hdg_qp_reg(qp->index, HDIOV_QP_CTRL), 0);
	tasklet_kill(&qp->tasklet);

	spin_lock_irqsave(&qp->lock, flags);
	hdg_qp_reap(qp, &done);
	list_for_each_entry_safe(job, tmp, &qp->inflight, node) {
		if (job->status == HDIOV_ST_OK)
			job->status = HDIOV_ST_ABORTED;
		list_move_tail(&job->node, &done);
	}
	list_for_each_entry_safe(job, tmp, &qp->queued, node) {
		job->status = HDIOV_ST_ABORTED;
		list_move_tail(&job->node, &done);
	}
	spin_unlock_irqrestore(&qp->lock, flags);
	hdg_complete_list(qp, &done);
}

/**
 * hdg_qp_watch - one watchdog look at a QP
 * @qp: the queue pair
 * @limit: looks in a row without a completion before the QP is given up
 *
 * Also looks at the CQ (a lost interrupt costs one look, not a hang).
 * Return: true when the QP has work and made no progress for @limit looks.
 */
bool hdg_qp_watch(struct hdg_qp *qp, unsigned int limit)
{
	unsigned long flags;
	bool stalled = false;

	spin_lock_irqsave(&qp->lock, flags);
	if (qp->dead || qp->cq_head == qp->sq_tail || qp->cq_head != qp->wd_head)
		qp->wd_idle = 0;
	else
		stalled = ++qp->wd_idle >= limit;
	qp->wd_head = qp->cq_head;
	spin_unlock_irqrestore(&qp->lock, flags);
	if (!stalled)
		tasklet_schedule(&qp->tasklet);
	return stalled;
}

/* Free the rings of a stopped (or never enabled) QP. */
void hdg_qp_free(struct hdg_qp *qp)
{
	struct device *dev = &qp->hd->pdev->dev;

	if (qp->sq)
		dma_free_coherent(dev, qp->size * HDIOV_SQE_SIZE, qp->sq,
				  qp->sq_dma);
	if (qp->cq)
		dma_free_coherent(dev, qp->size * HDIOV_CQE_SIZE, qp->cq,
				  qp->cq_dma);
	qp->sq = NULL;
	qp->cq = NULL;
}
