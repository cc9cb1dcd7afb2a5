// SPDX-License-Identifier: GPL-2.0
/*
 * HD-IOV BAR0 control registers (slow path, trapped) and the trapped view
 * of the BAR2 doorbell pages (contract sections 5 and 6).
 *
 * Registers are described by two tables: the device registers and the
 * registers of one QP block. Each entry names its offset, a read handler
 * and, when writable, a write handler; offsets with no entry read as zero
 * and ignore writes, and so do writes to entries without a write handler.
 * Called with hdiov_vdev.lock held, except hdiov_regs_reset() from
 * hdiov_vdev_init(), before the VDEV is registered. A reset (DEV_CTRL.RESET,
 * QP_CTRL.RESET) first quiesces the engine, which drops and retakes the lock.
 */
#include <linux/bitmap.h>
#include <linux/log2.h>
#include <linux/pci_regs.h>
#include <linux/string.h>

#include "hdiov.h"

struct hdiov_reg {
	unsigned int offset;
	u32 (*read)(struct hdiov_vdev *v, struct hdiov_qp *qp);
	void (*write)(struct hdiov_vdev *v, struct hdiov_qp *qp, u32 val);
};

static void hdiov_qp_reset(struct hdiov_vdev *v, unsigned int i)
{
	struct hdiov_qp *qp = &v->qps[i];
	u32 *db = v->doorbells + (size_t)i * HDIOV_DB_PAGE;

	qp->sq_base = 0;
	qp->cq_base = 0;
	qp->ring_size = 0;
	qp->ctrl = 0;
	qp->status = 0;
	qp->msix_vector = HDIOV_MSIX_QP_VECTOR(i);
	qp->sq_head = 0;
	qp->cq_tail = 0;
	qp->irq_coalesce = 0;
	qp->idle = 0;
	qp->irq_pending = 0;
	qp->parked = false;
	WRITE_ONCE(qp->abort, false);
	memset(db, 0, HDIOV_DB_PAGE);
	/* Its rings are unpinned (an unopened VDEV has none). */
	if (v->open)
		hdiov_rings_drop(v, i);
}

/*
 * No lockdep_assert_held(): hdiov_vdev_init() resets the registers of a VDEV
 * nobody else can see yet, without hdiov_vdev.lock.
 */
void hdiov_regs_reset(struct hdiov_vdev *v)
{
	unsigned int i;

	v->dev_ctrl = 0;
	v->dev_status = 0;
	for (i = 0; i < v->nr_qps; i++)
		hdiov_qp_reset(v, i);
	memset(v->msix_table, 0,
	       (size_t)hdiov_nr_vectors(v) * HDIOV_MSIX_ENTRY_SIZE);
	bitmap_zero(v->msix_pba, 1 + HDIOV_MAX_QPS_PER_VDEV);
}

/* Device registers. */

static u32 reg_id(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return HDIOV_ID_VALUE;
}

static u32 reg_version(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return HDIOV_VERSION_VALUE;
}

static u32 reg_caps(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return v->type->caps;
}

static u32 reg_num_qps(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return v->nr_qps;
}

static u32 reg_max_ring(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return HDIOV_MAX_RING;
}

static u32 reg_max_xfer(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return HDIOV_MAX_XFER;
}

static u32 reg_dev_ctrl(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return v->dev_ctrl;
}

static void reg_dev_ctrl_write(struct hdiov_vdev *v, struct hdiov_qp *qp,
			       u32 val)
{
	unsigned int i;

	if (val & HDIOV_DEV_CTRL_RESET) {
		hdiov_engine_quiesce(v, -1);
		hdiov_regs_reset(v);
		return;
	}
	if (!(val & HDIOV_DEV_CTRL_ENABLE) &&
	    (v->dev_ctrl & HDIOV_DEV_CTRL_ENABLE)) {
		/* Disable: nothing runs once DEV_STATUS.ENABLED reads 0. */
		v->dev_ctrl = 0;
		hdiov_engine_stop(v, -1);
	}
	v->dev_ctrl = val & HDIOV_DEV_CTRL_ENABLE;
	if (v->dev_ctrl & HDIOV_DEV_CTRL_ENABLE) {
		v->dev_status |= HDIOV_DEV_STATUS_ENABLED;
		for (i = 0; i < v->nr_qps; i++)
			hdiov_engine_kick(v, i);
	} else {
		v->dev_status &= ~HDIOV_DEV_STATUS_ENABLED;
	}
}

static u32 reg_dev_status(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return v->dev_status;
}

static void reg_kick_write(struct hdiov_vdev *v, struct hdiov_qp *qp, u32 val)
{
	if (val < v->nr_qps) {
		atomic64_inc(&v->stats.kicks);
		hdiov_engine_kick(v, val);
	}
}

static const struct hdiov_reg hdiov_dev_regs[] = {
	{ HDIOV_REG_ID, reg_id, NULL },
	{ HDIOV_REG_VERSION, reg_version, NULL },
	{ HDIOV_REG_CAPS, reg_caps, NULL },
	{ HDIOV_REG_NUM_QPS, reg_num_qps, NULL },
	{ HDIOV_REG_MAX_RING, reg_max_ring, NULL },
	{ HDIOV_REG_MAX_XFER, reg_max_xfer, NULL },
	{ HDIOV_REG_DEV_CTRL, reg_dev_ctrl, reg_dev_ctrl_write },
	{ HDIOV_REG_DEV_STATUS, reg_dev_status, NULL },
	{ HDIOV_REG_KICK, NULL, reg_kick_write },
};

/* Registers of one QP block. */

static bool qp_enabled(struct hdiov_qp *qp)
{
	return qp->ctrl & HDIOV_QP_CTRL_ENABLE;
}

static u32 reg_sq_base_lo(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return lower_32_bits(qp->sq_base);
}

static u32 reg_sq_base_hi(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return upper_32_bits(qp->sq_base);
}

static u32 reg_cq_base_lo(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return lower_32_bits(qp->cq_base);
}

static u32 reg_cq_base_hi(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return upper_32_bits(qp->cq_base);
}

/* Ring bases keep their alignment: the low bits read as zero. */
static void reg_sq_base_lo_write(struct hdiov_vdev *v, struct hdiov_qp *qp,
				 u32 val)
{
	if (!qp_enabled(qp))
		qp->sq_base = (qp->sq_base & GENMASK_ULL(63, 32)) | (val & ~63U);
}

static void reg_sq_base_hi_write(struct hdiov_vdev *v, struct hdiov_qp *qp,
				 u32 val)
{
	if (!qp_enabled(qp))
		qp->sq_base = lower_32_bits(qp->sq_base) | ((u64)val << 32);
}

static void reg_cq_base_lo_write(struct hdiov_vdev *v, struct hdiov_qp *qp,
				 u32 val)
{
	if (!qp_enabled(qp))
		qp->cq_base = (qp->cq_base & GENMASK_ULL(63, 32)) | (val & ~15U);
}

static void reg_cq_base_hi_write(struct hdiov_vdev *v, struct hdiov_qp *qp,
				 u32 val)
{
	if (!qp_enabled(qp))
		qp->cq_base = lower_32_bits(qp->cq_base) | ((u64)val << 32);
}

static u32 reg_ring_size(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return qp->ring_size;
}

/* Only a power of two from 2 to MAX_RING is taken; anything else is ignored. */
static void reg_ring_size_write(struct hdiov_vdev *v, struct hdiov_qp *qp,
				u32 val)
{
	if (!qp_enabled(qp) && val >= 2 && val <= HDIOV_MAX_RING &&
	    is_power_of_2(val))
		qp->ring_size = val;
}

static u32 reg_qp_ctrl(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return qp->ctrl;
}

static void reg_qp_ctrl_write(struct hdiov_vdev *v, struct hdiov_qp *qp,
			      u32 val)
{
	unsigned int i = qp - v->qps;
	bool was = qp_enabled(qp);

	if (val & HDIOV_QP_CTRL_RESET) {
		hdiov_engine_quiesce(v, i);
		hdiov_qp_reset(v, i);
		return;
	}
	qp->ctrl = val & (HDIOV_QP_CTRL_ENABLE | HDIOV_QP_CTRL_IRQ_ENABLE);
	if (qp_enabled(qp)) {
		qp->status |= HDIOV_QP_STATUS_ENABLED;
		if (!was)
			hdiov_rings_request(v, i);
		hdiov_engine_kick(v, i);
	} else if (was) {
		/* Disable: nothing runs once QP_STATUS.ENABLED reads 0. */
		hdiov_engine_stop(v, i);
		hdiov_rings_drop(v, i);
		qp->status &= ~HDIOV_QP_STATUS_ENABLED;
	}
}

static u32 reg_qp_status(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return qp->status;
}

static u32 reg_msix_vector(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return qp->msix_vector;
}

static void reg_msix_vector_write(struct hdiov_vdev *v, struct hdiov_qp *qp,
				  u32 val)
{
	if (val < hdiov_nr_vectors(v))
		qp->msix_vector = val;
}

static u32 reg_sq_head(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return qp->sq_head;
}

static u32 reg_cq_tail(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return qp->cq_tail;
}

static u32 reg_irq_coalesce(struct hdiov_vdev *v, struct hdiov_qp *qp)
{
	return qp->irq_coalesce;
}

static void reg_irq_coalesce_write(struct hdiov_vdev *v, struct hdiov_qp *qp,
				   u32 val)
{
	if (val <= HDIOV_MAX_RING)
		qp->irq_coalesce = val;
}

static const struct hdiov_reg hdiov_qp_regs[] = {
	{ HDIOV_QP_SQ_BASE_LO, reg_sq_base_lo, reg_sq_base_lo_write },
	{ HDIOV_QP_SQ_BASE_HI, reg_sq_base_hi, reg_sq_base_hi_write },
	{ HDIOV_QP_CQ_BASE_LO, reg_cq_base_lo, reg_cq_base_lo_write },
	{ HDIOV_QP_CQ_BASE_HI, reg_cq_base_hi, reg_cq_base_hi_write },
	{ HDIOV_QP_RING_SIZE, reg_ring_size, reg_ring_size_write },
	{ HDIOV_QP_CTRL, reg_qp_ctrl, reg_qp_ctrl_write },
	{ HDIOV_QP_STATUS, reg_qp_status, NULL },
	{ HDIOV_QP_MSIX_VECTOR, reg_msix_vector, reg_msix_vector_write },
	{ HDIOV_QP_SQ_HEAD, reg_sq_head, NULL },
	{ HDIOV_QP_CQ_TAIL, reg_cq_tail, NULL },
	{ HDIOV_QP_IRQ_COALESCE, reg_irq_coalesce, reg_irq_coalesce_write },
};

/*
 * Find the register at the dword-aligned BAR0 offset @off. Sets *@qp for a
 * QP register; returns NULL for unassigned offsets.
 */
static const struct hdiov_reg *hdiov_reg_find(struct hdiov_vdev *v,
					      unsigned int off,
					      struct hdiov_qp **qp)
{
	const struct hdiov_reg *table = hdiov_dev_regs;
	unsigned int i, n = ARRAY_SIZE(hdiov_dev_regs);

	*qp = NULL;
	if (off >= HDIOV_REG_QP_BASE) {
		i = (off - HDIOV_REG_QP_BASE) / HDIOV_REG_QP_STRIDE;
		if (i >= v->nr_qps)
			return NULL;
		*qp = &v->qps[i];
		off = (off - HDIOV_REG_QP_BASE) % HDIOV_REG_QP_STRIDE;
		table = hdiov_qp_regs;
		n = ARRAY_SIZE(hdiov_qp_regs);
	}
	for (i = 0; i < n; i++) {
		if (table[i].offset == off)
			return &table[i];
	}
	return NULL;
}

static bool hdiov_in_msix_table(struct hdiov_vdev *v, unsigned int off)
{
	return off >= HDIOV_MSIX_TABLE &&
	       off < HDIOV_MSIX_TABLE +
		     hdiov_nr_vectors(v) * HDIOV_MSIX_ENTRY_SIZE;
}

/*
 * The PBA: one bit per vector, in 64-bit words read as two dwords (LO, HI),
 * so the dword at PBA + 4 * k holds vectors 32 * k to 32 * k + 31. Read-only.
 */
static bool hdiov_in_msix_pba(struct hdiov_vdev *v, unsigned int off)
{
	return off >= HDIOV_MSIX_PBA &&
	       off < HDIOV_MSIX_PBA +
		     DIV_ROUND_UP(hdiov_nr_vectors(v), 64) * 8;
}

static u32 hdiov_msix_pba_read(struct hdiov_vdev *v, unsigned int off)
{
	unsigned int first = (off - HDIOV_MSIX_PBA) / 4 * 32, i;
	u32 val = 0;

	for (i = 0; i < 32 && first + i < hdiov_nr_vectors(v); i++) {
		if (test_bit(first + i, v->msix_pba))
			val |= BIT(i);
	}
	return val;
}

/*
 * A write to the MSI-X table at @off: when it touched an entry's vector
 * control, an unmasked vector gets what was held back for it.
 */
static void hdiov_msix_table_written(struct hdiov_vdev *v, unsigned int off)
{
	if ((off - HDIOV_MSIX_TABLE) % HDIOV_MSIX_ENTRY_SIZE >=
	    PCI_MSIX_ENTRY_VECTOR_CTRL)
		hdiov_irq_deliver_pending(v);
}

/* A 32-bit read at the dword-aligned offset @off. */
u32 hdiov_bar0_read(struct hdiov_vdev *v, unsigned int off)
{
	const struct hdiov_reg *r;
	struct hdiov_qp *qp;
	u8 *e;

	lockdep_assert_held(&v->lock);
	if (hdiov_in_msix_table(v, off)) {
		e = &v->msix_table[off - HDIOV_MSIX_TABLE];
		return e[0] | (e[1] << 8) | (e[2] << 16) | ((u32)e[3] << 24);
	}
	if (hdiov_in_msix_pba(v, off))
		return hdiov_msix_pba_read(v, off);
	if (off >= HDIOV_MSIX_TABLE)
		return 0;
	r = hdiov_reg_find(v, off, &qp);
	return r && r->read ? r->read(v, qp) : 0;
}

/* A 32-bit write at the dword-aligned offset @off. */
void hdiov_bar0_write(struct hdiov_vdev *v, unsigned int off, u32 val)
{
	const struct hdiov_reg *r;
	struct hdiov_qp *qp;
	unsigned int i;

	lockdep_assert_held(&v->lock);
	if (hdiov_in_msix_table(v, off)) {
		for (i = 0; i < 4; i++)
			v->msix_table[off - HDIOV_MSIX_TABLE + i] = val >> (8 * i);
		hdiov_msix_table_written(v, off);
		return;
	}
	r = hdiov_reg_find(v, off, &qp);
	if (r && r->write)
		r->write(v, qp, val);
}

/* Byte access: registers are 32-bit; only the MSI-X table takes bytes. */
u8 hdiov_bar0_read8(struct hdiov_vdev *v, unsigned int off)
{
	lockdep_assert_held(&v->lock);
	return hdiov_bar0_read(v, off & ~3U) >> (8 * (off & 3));
}

void hdiov_bar0_write8(struct hdiov_vdev *v, unsigned int off, u8 val)
{
	lockdep_assert_held(&v->lock);
	if (hdiov_in_msix_table(v, off)) {
		v->msix_table[off - HDIOV_MSIX_TABLE] = val;
		hdiov_msix_table_written(v, off);
	}
}

/*
 * Trapped doorbell access. The driver's words (SQ_TAIL, CQ_HEAD) take
 * writes; ENGINE_FLAGS belongs to the device. A trapped SQ_TAIL write also
 * kicks the engine. Pages past the VDEV's QPs read as zero.
 */
u32 hdiov_bar2_read(struct hdiov_vdev *v, unsigned int off)
{
	u32 *db = v->doorbells;

	lockdep_assert_held(&v->lock);
	if (off >= v->nr_qps * HDIOV_DB_PAGE)
		return 0;
	return READ_ONCE(db[off / 4]);
}

void hdiov_bar2_write(struct hdiov_vdev *v, unsigned int off, u32 val)
{
	unsigned int qp = off / HDIOV_DB_PAGE, reg = off % HDIOV_DB_PAGE;
	u32 *db = v->doorbells;

	lockdep_assert_held(&v->lock);
	if (qp >= v->nr_qps)
		return;
	if (reg != HDIOV_DB_SQ_TAIL && reg != HDIOV_DB_CQ_HEAD)
		return;
	WRITE_ONCE(db[off / 4], val);
	if (reg == HDIOV_DB_SQ_TAIL) {
		atomic64_inc(&v->stats.kicks);
		hdiov_engine_kick(v, qp);
	}
}
