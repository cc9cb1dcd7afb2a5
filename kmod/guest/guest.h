/* SPDX-License-Identifier: GPL-2.0 */
/*
 * HD-IOV guest driver: the PCI driver a VM runs for a VDEV (docs/hdiov-device.md).
 *
 * Layers: ring.c runs one queue pair (QP) — its SQ and CQ in DMA memory, the
 * doorbell page, the completion interrupt — and executes jobs (one or more
 * SQ entries that complete together). dma.c offers each QP as a dmaengine
 * channel; crc.c a crypto API crc32c transform on top of the same QPs;
 * main.c probes the device and ties them together.
 *
 * Locking: qp->lock (spinlock, irqsave) guards a QP's ring indexes and job
 * lists; chan->lock guards a channel's descriptor lists and cookies. Order:
 * chan->lock before qp->lock. Job completions run in the QP's tasklet with no
 * lock held, in ring order.
 */
#ifndef HDIOV_GUEST_H
#define HDIOV_GUEST_H

#include <linux/atomic.h>
#include <linux/dmaengine.h>
#include <linux/interrupt.h>
#include <linux/list.h>
#include <linux/pci.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "hdiov_spec.h"

struct hdg_dev;
struct hdg_qp;

/* One unit of work for a QP: nr_sqe ring entries, completing together. */
struct hdg_job {
	struct list_head node;
	struct hdg_qp *qp;
	unsigned int nr_sqe;
	unsigned int done;	/* completions seen so far */
	u8 status;		/* first status other than OK, else OK */
	u32 result;		/* result field of the last completion */
	/* Fill entry i of nr_sqe (the ring sets cookie; flags as given). */
	void (*fill)(struct hdg_job *job, unsigned int i, struct hdiov_sqe *sqe);
	/* Called once, from the QP's tasklet or an abort, without locks. */
	void (*complete)(struct hdg_job *job);
};

struct hdg_chan {
	struct dma_chan chan;
	struct hdg_qp *qp;
	spinlock_t lock;		/* the lists, err_cookie, active */
	struct list_head free;		/* descriptors to prepare */
	struct list_head submitted;	/* tx_submit'ed, not issued */
	struct list_head active;	/* issued, not completed */
	struct list_head unacked;	/* completed, client has not acked */
	struct hdg_desc *descs;
	unsigned int nr_descs;
	unsigned int active_count;
	dma_cookie_t err_cookie;	/* last cookie that failed */
	wait_queue_head_t idle;		/* active_count reached 0 */
};

struct hdg_qp {
	struct hdg_dev *hd;
	unsigned int index;
	spinlock_t lock;		/* everything below up to jobs */
	struct hdiov_sqe *sq;
	struct hdiov_cqe *cq;
	dma_addr_t sq_dma;
	dma_addr_t cq_dma;
	u32 size;			/* entries, a power of two */
	u32 sq_tail;			/* entries produced, free-running */
	u32 cq_head;			/* completions consumed */
	bool dead;			/* no new work: removed, reset, failed */
	struct list_head queued;	/* jobs waiting for ring space */
	struct list_head inflight;	/* jobs in the ring, in order */
	void __iomem *db;		/* this QP's doorbell page */
	unsigned int vector;		/* MSI-X vector index */
	struct tasklet_struct tasklet;
	struct hdg_chan chan;
	u32 wd_head;			/* cq_head at the last watchdog look */
	unsigned int wd_idle;		/* watchdog looks without progress */
};

struct hdg_dev {
	struct pci_dev *pdev;
	void __iomem *bar0;
	void __iomem *bar2;
	u32 caps;
	u32 nr_qps;			/* NUM_QPS of the device */
	u32 max_ring;
	u32 max_xfer;
	unsigned int nr_used;		/* QPs this driver runs */
	struct hdg_qp *qps;
	struct dma_device dma;
	struct delayed_work watchdog;	/* stalled QPs, lost interrupts */
	ktime_t probed;			/* probe start, for the first completion */
	atomic_t first_done;
	/* crc32c: the list of devices that serve it, and users in flight */
	struct list_head crc_node;
	atomic_t crc_users;
	atomic_t crc_next;
	wait_queue_head_t crc_idle;
};

/* ring.c */
int hdg_qp_start(struct hdg_dev *hd, struct hdg_qp *qp, unsigned int index,
		 u32 size);
void hdg_qp_stop(struct hdg_qp *qp);
void hdg_qp_free(struct hdg_qp *qp);
bool hdg_qp_watch(struct hdg_qp *qp, unsigned int limit);
int hdg_qp_queue(struct hdg_qp *qp, struct hdg_job *job);
bool hdg_qp_unqueue(struct hdg_qp *qp, struct hdg_job *job);
irqreturn_t hdg_qp_irq(int irq, void *data);

/* dma.c */
int hdg_dma_register(struct hdg_dev *hd);
void hdg_dma_unregister(struct hdg_dev *hd);
void hdg_dma_free_dev(struct hdg_dev *hd);

/* crc.c */
int hdg_crc_add(struct hdg_dev *hd);
void hdg_crc_remove(struct hdg_dev *hd);
void hdg_crc_wait(struct hdg_dev *hd);
void hdg_crc_exit(void);

/* main.c */
static inline u32 hdg_rd(struct hdg_dev *hd, u32 off)
{
	return readl(hd->bar0 + off);
}

static inline void hdg_wr(struct hdg_dev *hd, u32 off, u32 val)
{
	writel(val, hd->bar0 + off);
}

static inline u32 hdg_qp_reg(unsigned int qp, u32 off)
{
	return HDIOV_REG_QP_BASE + qp * HDIOV_REG_QP_STRIDE + off;
}

#endif /* HDIOV_GUEST_H */
