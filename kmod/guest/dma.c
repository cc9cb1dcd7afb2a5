// SPDX-License-Identifier: GPL-2.0
/*
 * dmaengine provider: one channel per QP. DMA_MEMCPY is COPY, DMA_MEMSET is
 * FILL with the byte repeated, DMA_INTERRUPT is a NOP; a transfer longer than
 * MAX_XFER takes several SQ entries that complete together. A DMA_FAULT or
 * BAD_* status reaches the client as a failed dmaengine_result and as
 * DMA_ERROR from tx_status.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/slab.h>

#include "guest.h"

static unsigned int descs_per_chan = 64;
module_param(descs_per_chan, uint, 0444);
MODULE_PARM_DESC(descs_per_chan, "descriptors a channel can have prepared at once (1-4096, default 64)");

struct hdg_desc {
	struct dma_async_tx_descriptor tx;
	struct hdg_job job;
	struct list_head node;
	struct hdg_chan *c;
	u8 op;
	bool cancelled;		/* terminated: no callback */
	size_t len;
	dma_addr_t src;
	dma_addr_t dst;
	u64 pattern;
};

static struct hdg_chan *to_hdg_chan(struct dma_chan *chan)
{
	return container_of(chan, struct hdg_chan, chan);
}

static struct hdg_dev *hdg_chan_dev(struct hdg_chan *c)
{
	return c->qp->hd;
}

static void hdg_desc_fill(struct hdg_job *job, unsigned int i,
			  struct hdiov_sqe *sqe)
{
	struct hdg_desc *d = container_of(job, struct hdg_desc, job);
	u32 max = hdg_chan_dev(d->c)->max_xfer;
	size_t off = (size_t)i * max;
	u32 len = min_t(size_t, d->len - off, max);

	sqe->opcode = d->op;
	if (d->op == HDIOV_OP_NOP)
		return;
	sqe->len = cpu_to_le32(len);
	if (d->op == HDIOV_OP_COPY)
		sqe->src = cpu_to_le64(d->src + off);
	sqe->dst = cpu_to_le64(d->dst + off);
	sqe->pattern = cpu_to_le64(d->pattern);
}

static enum dmaengine_tx_result hdg_tx_result(u8 status)
{
	switch (status) {
	case HDIOV_ST_OK:
		return DMA_TRANS_NOERROR;
	case HDIOV_ST_ABORTED:
		return DMA_TRANS_ABORTED;
	case HDIOV_ST_DMA_FAULT:
		return DMA_TRANS_WRITE_FAILED;
	default:
		return DMA_TRANS_READ_FAILED;
	}
}

/* Put a finished descriptor back, or aside until the client acks it. */
static void hdg_desc_recycle(struct hdg_chan *c, struct hdg_desc *d)
{
	lockdep_assert_held(&c->lock);
	if (async_tx_test_ack(&d->tx))
		list_move_tail(&d->node, &c->free);
	else
		list_move_tail(&d->node, &c->unacked);
}

static void hdg_desc_complete(struct hdg_job *job)
{
	struct hdg_desc *d = container_of(job, struct hdg_desc, job);
	struct hdg_chan *c = d->c;
	struct dmaengine_result res = {
		.result = hdg_tx_result(job->status),
		.residue = job->status == HDIOV_ST_OK ? 0 : d->len,
	};
	bool cancelled;
	unsigned long flags;

	spin_lock_irqsave(&c->lock, flags);
	c->chan.completed_cookie = d->tx.cookie;
	if (job->status != HDIOV_ST_OK)
		c->err_cookie = d->tx.cookie;
	cancelled = d->cancelled;
	spin_unlock_irqrestore(&c->lock, flags);

	if (job->status != HDIOV_ST_OK && job->status != HDIOV_ST_ABORTED)
		dev_dbg(c->chan.device->dev, "QP %u: cookie %d: status %u\n",
			c->qp->index, d->tx.cookie, job->status);
	dma_descriptor_unmap(&d->tx);
	if (!cancelled) {
		if (d->tx.callback_result)
			d->tx.callback_result(d->tx.callback_param, &res);
		else if (d->tx.callback)
			d->tx.callback(d->tx.callback_param);
	}
	dma_run_dependencies(&d->tx);

	spin_lock_irqsave(&c->lock, flags);
	hdg_desc_recycle(c, d);
	if (!--c->active_count)
		wake_up_all(&c->idle);
	spin_unlock_irqrestore(&c->lock, flags);
}

static dma_cookie_t hdg_tx_submit(struct dma_async_tx_descriptor *tx)
{
	struct hdg_desc *d = container_of(tx, struct hdg_desc, tx);
	struct hdg_chan *c = d->c;
	unsigned long flags;
	dma_cookie_t cookie;

	spin_lock_irqsave(&c->lock, flags);
	cookie = c->chan.cookie + 1;
	if (cookie < DMA_MIN_COOKIE)
		cookie = DMA_MIN_COOKIE;
	c->chan.cookie = cookie;
	tx->cookie = cookie;
	list_move_tail(&d->node, &c->submitted);
	spin_unlock_irqrestore(&c->lock, flags);
	return cookie;
}

static struct hdg_desc *hdg_desc_get(struct hdg_chan *c, u8 op, size_t len,
				     unsigned long flags)
{
	struct hdg_dev *hd = hdg_chan_dev(c);
	struct hdg_desc *d, *tmp;
	unsigned long lflags;
	size_t nr;

	/* A stopped QP (device removed, failed) takes no work: clients back off. */
	if ((op != HDIOV_OP_NOP && !len) || READ_ONCE(c->qp->dead))
		return NULL;
	nr = op == HDIOV_OP_NOP ? 1 : DIV_ROUND_UP(len, hd->max_xfer);
	if (nr > c->qp->size)
		return NULL;

	spin_lock_irqsave(&c->lock, lflags);
	if (list_empty(&c->free)) {
		list_for_each_entry_safe(d, tmp, &c->unacked, node)
			if (async_tx_test_ack(&d->tx))
				list_move_tail(&d->node, &c->free);
	}
	d = list_first_entry_or_null(&c->free, struct hdg_desc, node);
	if (d)
		list_del_init(&d->node);
	spin_unlock_irqrestore(&c->lock, lflags);
	if (!d)
		return NULL;

	dma_async_tx_descriptor_init(&d->tx, &c->chan);
	d->tx.tx_submit = hdg_tx_submit;
	d->tx.flags = flags;
	d->op = op;
	d->len = len;
	d->cancelled = false;
	d->job.nr_sqe = nr;
	d->job.fill = hdg_desc_fill;
	d->job.complete = hdg_desc_complete;
	return d;
}

static struct dma_async_tx_descriptor *
hdg_prep_memcpy(struct dma_chan *chan, dma_addr_t dst, dma_addr_t src,
		size_t len, unsigned long flags)
{
	struct hdg_desc *d = hdg_desc_get(to_hdg_chan(chan), HDIOV_OP_COPY,
					  len, flags);

	if (!d)
		return NULL;
	d->src = src;
	d->dst = dst;
	return &d->tx;
}

static struct dma_async_tx_descriptor *
hdg_prep_memset(struct dma_chan *chan, dma_addr_t dst, int value, size_t len,
		unsigned long flags)
{
	struct hdg_desc *d = hdg_desc_get(to_hdg_chan(chan), HDIOV_OP_FILL,
					  len, flags);

	if (!d)
		return NULL;
	d->dst = dst;
	/* dmaengine fills with the value's low byte. */
	d->pattern = 0x0101010101010101ULL * (u8)value;
	return &d->tx;
}

static struct dma_async_tx_descriptor *
hdg_prep_interrupt(struct dma_chan *chan, unsigned long flags)
{
	struct hdg_desc *d = hdg_desc_get(to_hdg_chan(chan), HDIOV_OP_NOP, 0,
					  flags);

	return d ? &d->tx : NULL;
}

static void hdg_issue_pending(struct dma_chan *chan)
{
	struct hdg_chan *c = to_hdg_chan(chan);
	struct hdg_desc *d, *tmp;
	unsigned long flags;
	LIST_HEAD(failed);

	spin_lock_irqsave(&c->lock, flags);
	list_for_each_entry_safe(d, tmp, &c->submitted, node) {
		list_move_tail(&d->node, &c->active);
		c->active_count++;
		if (hdg_qp_queue(c->qp, &d->job)) {
			d->job.status = HDIOV_ST_ABORTED;
			list_add_tail(&d->job.node, &failed);
		}
	}
	spin_unlock_irqrestore(&c->lock, flags);
	/* The QP is gone: the work completes as aborted. */
	list_for_each_entry_safe(d, tmp, &failed, job.node) {
		list_del_init(&d->job.node);
		hdg_desc_complete(&d->job);
	}
}

static enum dma_status hdg_tx_status(struct dma_chan *chan, dma_cookie_t cookie,
				     struct dma_tx_state *state)
{
	struct hdg_chan *c = to_hdg_chan(chan);
	dma_cookie_t used, complete, err;
	enum dma_status ret;
	unsigned long flags;

	spin_lock_irqsave(&c->lock, flags);
	used = chan->cookie;
	complete = chan->completed_cookie;
	err = c->err_cookie;
	spin_unlock_irqrestore(&c->lock, flags);

	dma_set_tx_state(state, complete, used, 0);
	ret = dma_async_is_complete(cookie, complete, used);
	if (ret == DMA_COMPLETE && cookie == err)
		return DMA_ERROR;
	if (ret != DMA_COMPLETE)
		/* Polled clients: look at the CQ without waiting for the IRQ. */
		tasklet_schedule(&c->qp->tasklet);
	return ret;
}

static int hdg_terminate_all(struct dma_chan *chan)
{
	struct hdg_chan *c = to_hdg_chan(chan);
	struct hdg_desc *d, *tmp;
	unsigned long flags;

	spin_lock_irqsave(&c->lock, flags);
	list_for_each_entry_safe(d, tmp, &c->submitted, node)
		hdg_desc_recycle(c, d);
	list_for_each_entry_safe(d, tmp, &c->active, node) {
		if (hdg_qp_unqueue(c->qp, &d->job)) {
			/* Never reached the ring: done, as if completed. */
			dma_descriptor_unmap(&d->tx);
			hdg_desc_recycle(c, d);
			if (!--c->active_count)
				wake_up_all(&c->idle);
		} else {
			/* In the ring: it completes, but calls nobody. */
			d->cancelled = true;
		}
	}
	spin_unlock_irqrestore(&c->lock, flags);
	return 0;
}

static void hdg_synchronize(struct dma_chan *chan)
{
	struct hdg_chan *c = to_hdg_chan(chan);

	if (!wait_event_timeout(c->idle, !READ_ONCE(c->active_count), 10 * HZ))
		dev_warn(chan->device->dev,
			 "QP %u: transfers still in flight 10 s after terminate\n",
			 c->qp->index);
}

static int hdg_alloc_chan_resources(struct dma_chan *chan)
{
	struct hdg_chan *c = to_hdg_chan(chan);
	unsigned int i, n = clamp(descs_per_chan, 1U, 4096U);
	struct hdg_desc *descs;
	unsigned long flags;

	descs = kcalloc(n, sizeof(*descs), GFP_KERNEL);
	if (!descs)
		return -ENOMEM;
	spin_lock_irqsave(&c->lock, flags);
	c->descs = descs;
	c->nr_descs = n;
	c->err_cookie = 0;
	for (i = 0; i < n; i++) {
		descs[i].c = c;
		list_add_tail(&descs[i].node, &c->free);
	}
	spin_unlock_irqrestore(&c->lock, flags);
	chan->cookie = DMA_MIN_COOKIE;
	chan->completed_cookie = DMA_MIN_COOKIE;
	return n;
}

static void hdg_free_chan_resources(struct dma_chan *chan)
{
	struct hdg_chan *c = to_hdg_chan(chan);
	unsigned long flags;

	hdg_terminate_all(chan);
	hdg_synchronize(chan);
	spin_lock_irqsave(&c->lock, flags);
	if (c->active_count) {
		/* The device never answered: keep the descriptors (leak). */
		spin_unlock_irqrestore(&c->lock, flags);
		return;
	}
	INIT_LIST_HEAD(&c->free);
	INIT_LIST_HEAD(&c->submitted);
	INIT_LIST_HEAD(&c->unacked);
	kfree(c->descs);
	c->descs = NULL;
	c->nr_descs = 0;
	spin_unlock_irqrestore(&c->lock, flags);
}

static void hdg_dma_release(struct dma_device *dd)
{
	hdg_dma_free_dev(container_of(dd, struct hdg_dev, dma));
}

/* Register one channel per running QP. */
int hdg_dma_register(struct hdg_dev *hd)
{
	struct dma_device *dd = &hd->dma;
	unsigned int i;

	dma_cap_zero(dd->cap_mask);
	if (hd->caps & HDIOV_CAPS_COPY) {
		dma_cap_set(DMA_MEMCPY, dd->cap_mask);
		dd->device_prep_dma_memcpy = hdg_prep_memcpy;
	}
	if (hd->caps & HDIOV_CAPS_FILL) {
		dma_cap_set(DMA_MEMSET, dd->cap_mask);
		dd->device_prep_dma_memset = hdg_prep_memset;
	}
	dma_cap_set(DMA_INTERRUPT, dd->cap_mask);
	dd->device_prep_dma_interrupt = hdg_prep_interrupt;
	dd->dev = &hd->pdev->dev;
	dd->copy_align = DMAENGINE_ALIGN_1_BYTE;
	dd->fill_align = DMAENGINE_ALIGN_1_BYTE;
	dd->device_alloc_chan_resources = hdg_alloc_chan_resources;
	dd->device_free_chan_resources = hdg_free_chan_resources;
	dd->device_issue_pending = hdg_issue_pending;
	dd->device_tx_status = hdg_tx_status;
	dd->device_terminate_all = hdg_terminate_all;
	dd->device_synchronize = hdg_synchronize;
	dd->device_release = hdg_dma_release;
	INIT_LIST_HEAD(&dd->channels);
	for (i = 0; i < hd->nr_used; i++) {
		struct hdg_chan *c = &hd->qps[i].chan;

		c->qp = &hd->qps[i];
		spin_lock_init(&c->lock);
		INIT_LIST_HEAD(&c->free);
		INIT_LIST_HEAD(&c->submitted);
		INIT_LIST_HEAD(&c->active);
		INIT_LIST_HEAD(&c->unacked);
		init_waitqueue_head(&c->idle);
		c->chan.device = dd;
		list_add_tail(&c->chan.device_node, &dd->channels);
	}
	return dma_async_device_register(dd);
}

/*
 * Unregister; the dmaengine core calls hdg_dma_release (which frees @hd)
 * once the last client has let go of its channel.
 */
void hdg_dma_unregister(struct hdg_dev *hd)
{
	dma_async_device_unregister(&hd->dma);
}
