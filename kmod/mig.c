// SPDX-License-Identifier: GPL-2.0
/*
 * HD-IOV live migration: VFIO migration v2 (contract section 10).
 *
 * The VFIO core walks the migration state machine (vfio_mig_get_next_state())
 * and calls hdiov_mig_set_state() for one arc at a time:
 *   RUNNING -> RUNNING_P2P, PRE_COPY -> PRE_COPY_P2P: the engine is held off
 *	the VDEV (hdiov_engine_hold()): a batch in progress completes and
 *	publishes SQ_HEAD and CQ_TAIL, no further batch starts; descriptors the
 *	engine had not fetched, or that wait for their pages, stay in the SQ.
 *   RUNNING_P2P -> RUNNING, PRE_COPY_P2P -> PRE_COPY: released again.
 *   RUNNING_P2P <-> STOP: nothing (the device is already quiet).
 *   STOP -> STOP_COPY, PRE_COPY_P2P -> STOP_COPY: the state is captured
 *	into the saving file, which the user reads.
 *   RUNNING -> PRE_COPY, RUNNING_P2P -> PRE_COPY_P2P: an empty saving file
 *	(this device has no data worth sending ahead).
 *   STOP -> RESUMING: a resuming file, which the user writes.
 *   RESUMING -> STOP: the state written is checked and loaded; a state that
 *	does not fit fails with -EINVAL, one line in the kernel log, and
 *	changes nothing (the VDEV stays in RESUMING; a reset or a close
 *	brings it back to RUNNING).
 * VFIO_DEVICE_RESET and close return to RUNNING.
 *
 * The state is a fixed layout of little-endian fields (hdiov_mig_*), checked
 * field by field and by a CRC32C before anything of it is used.
 *
 * Locking (hdiov.h): hdiov_vdev.mig.lock, then hdiov_vdev.lock. A file's own
 * lock protects its buffer and is held only around memcpy(); user memory is
 * copied through a bounce buffer without any lock, and the file never looks
 * at the VDEV, which it may outlive.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/crc32c.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "hdiov.h"

#define HDIOV_MIG_MAGIC		0x4d564448	/* "HDVM" */
#define HDIOV_MIG_VERSION	1
#define HDIOV_MIG_ID_LEN	16

#define HDIOV_MIG_F_DMA_STOPPED	0x1
#define HDIOV_MIG_F_INTX_MASKED	0x2

#define HDIOV_MIG_NR_STATS	6

/* The header: what the state is from. */
struct hdiov_mig_header {
	__le32 magic;
	__le32 version;
	u8 spec_hash[HDIOV_MIG_ID_LEN];	/* HDIOV_SPEC_HASH, NUL-padded */
	u8 type_id[HDIOV_MIG_ID_LEN];	/* the mdev type's id, NUL-padded */
	__le32 nr_qps;
	__le32 length;			/* of the whole state */
	__le32 contract;		/* HDIOV_VERSION_VALUE */
	__le32 flags;			/* 0 */
	__le32 rsvd;			/* 0 */
	__le32 crc;			/* CRC32C of the state, this field 0 */
};

/* The device: config space, BAR0 device registers, sysfs state. */
struct hdiov_mig_dev {
	u8 cfg[HDIOV_CFG_SIZE];
	__le32 dev_ctrl;
	__le32 dev_status;
	__le32 weight;
	__le32 flags;			/* HDIOV_MIG_F_* */
	__le64 stats[HDIOV_MIG_NR_STATS];
};

/* One queue pair: registers, doorbells, engine counters. */
struct hdiov_mig_qp {
	__le64 sq_base;
	__le64 cq_base;
	__le32 ring_size;
	__le32 ctrl;
	__le32 status;
	__le32 msix_vector;
	__le32 sq_head;
	__le32 cq_tail;
	__le32 irq_coalesce;
	__le32 irq_pending;		/* completions not yet signalled */
	__le32 sq_tail;			/* doorbell page */
	__le32 cq_head;			/* doorbell page */
	__le32 phase;			/* of the next completion: 0 or 1 */
	__le32 rsvd;			/* 0 */
};

static_assert(sizeof(struct hdiov_mig_header) == 64);
static_assert(sizeof(struct hdiov_mig_dev) == 320);
static_assert(sizeof(struct hdiov_mig_qp) == 64);
static_assert(sizeof(HDIOV_SPEC_HASH) <= HDIOV_MIG_ID_LEN + 1);

/* Layout: header, device, MSI-X table, PBA, then one record per QP. */
static size_t hdiov_mig_table_off(void)
{
	return sizeof(struct hdiov_mig_header) + sizeof(struct hdiov_mig_dev);
}

static size_t hdiov_mig_pba_size(unsigned int nr_qps)
{
	return DIV_ROUND_UP(1 + nr_qps, 64) * sizeof(__le64);
}

static size_t hdiov_mig_pba_off(unsigned int nr_qps)
{
	return hdiov_mig_table_off() + (size_t)(1 + nr_qps) * HDIOV_MSIX_ENTRY_SIZE;
}

static size_t hdiov_mig_qps_off(unsigned int nr_qps)
{
	return hdiov_mig_pba_off(nr_qps) + hdiov_mig_pba_size(nr_qps);
}

static size_t hdiov_mig_size(unsigned int nr_qps)
{
	return hdiov_mig_qps_off(nr_qps) +
	       (size_t)nr_qps * sizeof(struct hdiov_mig_qp);
}

/*
 * A saving or resuming file. buf holds the whole state (size bytes); filled
 * bytes of it are valid. Under lock: filled, disabled, final, and buf's
 * contents once visible through filled.
 */
struct hdiov_mig_file {
	struct file *filp;
	struct mutex lock;	/* protects the fields below and buf */
	u8 *buf;
	size_t size;
	size_t filled;
	bool disabled;		/* the VDEV left the state: reads/writes fail */
	bool final;		/* saving: STOP_COPY reached, end of stream */
	bool bad;		/* resuming: the header did not match */
	/* resuming: what the header must say, and who to blame */
	u32 nr_qps;
	u8 type_id[HDIOV_MIG_ID_LEN];
	char name[40];
};

static const char hdiov_mig_spec_hash[HDIOV_MIG_ID_LEN + 1] = HDIOV_SPEC_HASH;

static void hdiov_mig_type_id(const struct hdiov_vdev *v,
			      u8 id[HDIOV_MIG_ID_LEN])
{
	memset(id, 0, HDIOV_MIG_ID_LEN);
	strscpy(id, v->type->id, HDIOV_MIG_ID_LEN);
}

static int hdiov_mig_release(struct inode *inode, struct file *filp)
{
	struct hdiov_mig_file *f = filp->private_data;

	mutex_destroy(&f->lock);
	kvfree(f->buf);
	kfree(f);
	return 0;
}

static ssize_t hdiov_mig_read(struct file *filp, char __user *ubuf,
			      size_t len, loff_t *pos)
{
	struct hdiov_mig_file *f = filp->private_data;
	ssize_t ret;
	void *bounce;
	loff_t at;

	if (pos)
		return -ESPIPE;
	mutex_lock(&f->lock);
	at = filp->f_pos;
	if (f->disabled) {
		ret = -ENODEV;
	} else if (at < 0 || at > f->filled) {
		ret = -EINVAL;
	} else if (at == f->filled) {
		/* End of stream: for good in STOP_COPY, for now in PRE_COPY. */
		ret = f->final ? 0 : -ENOMSG;
	} else {
		ret = min_t(size_t, len, f->filled - at);
	}
	if (ret <= 0) {
		mutex_unlock(&f->lock);
		return ret;
	}
	bounce = kvmalloc(ret, GFP_KERNEL_ACCOUNT);
	if (!bounce) {
		mutex_unlock(&f->lock);
		return -ENOMEM;
	}
	memcpy(bounce, f->buf + at, ret);
	mutex_unlock(&f->lock);
	if (copy_to_user(ubuf, bounce, ret)) {
		ret = -EFAULT;
	} else {
		mutex_lock(&f->lock);
		filp->f_pos = at + ret;
		mutex_unlock(&f->lock);
	}
	kvfree(bounce);
	return ret;
}

/* Why header @h does not fit the VDEV @f resumes into, or NULL. */
static const char *hdiov_mig_check_header(const struct hdiov_mig_file *f,
					  const struct hdiov_mig_header *h)
{
	if (le32_to_cpu(h->magic) != HDIOV_MIG_MAGIC)
		return "bad magic";
	if (le32_to_cpu(h->version) != HDIOV_MIG_VERSION)
		return "unknown format version";
	if (le32_to_cpu(h->contract) != HDIOV_VERSION_VALUE)
		return "other device contract version";
	if (memcmp(h->spec_hash, hdiov_mig_spec_hash, HDIOV_MIG_ID_LEN))
		return "other device spec (spec hash)";
	if (memcmp(h->type_id, f->type_id, HDIOV_MIG_ID_LEN))
		return "other mdev type";
	if (le32_to_cpu(h->nr_qps) != f->nr_qps)
		return "other queue-pair count";
	if (le32_to_cpu(h->length) != f->size)
		return "length does not match the queue-pair count";
	if (h->flags || h->rsvd)
		return "reserved header fields set";
	return NULL;
}

static void hdiov_mig_reject(const char *name, const char *why)
{
	pr_warn_ratelimited("%s: migration state rejected: %s\n", name, why);
}

static ssize_t hdiov_mig_write(struct file *filp, const char __user *ubuf,
			       size_t len, loff_t *pos)
{
	struct hdiov_mig_file *f = filp->private_data;
	size_t hdr = sizeof(struct hdiov_mig_header);
	const char *why = NULL;
	void *bounce;
	ssize_t ret;
	loff_t at;

	if (pos)
		return -ESPIPE;
	if (!len)
		return 0;
	/* Bounded by the state's size, so the bounce buffer is too. */
	if (len > f->size)
		len = f->size + 1;
	bounce = kvmalloc(len, GFP_KERNEL_ACCOUNT);
	if (!bounce)
		return -ENOMEM;
	if (copy_from_user(bounce, ubuf, len)) {
		kvfree(bounce);
		return -EFAULT;
	}
	mutex_lock(&f->lock);
	at = filp->f_pos;
	if (f->disabled) {
		ret = -ENODEV;
		goto out;
	}
	if (f->bad || at < 0 || at != f->filled || len > f->size - at) {
		if (!f->bad && at == f->filled)
			why = "longer than the state of this VDEV";
		ret = -EINVAL;
		goto out;
	}
	memcpy(f->buf + at, bounce, len);
	f->filled += len;
	filp->f_pos = at + len;
	ret = len;
	if (at < hdr && f->filled >= hdr) {
		why = hdiov_mig_check_header(f, (void *)f->buf);
		if (why) {
			f->bad = true;
			ret = -EINVAL;
		}
	}
out:
	mutex_unlock(&f->lock);
	if (why)
		hdiov_mig_reject(f->name, why);
	kvfree(bounce);
	return ret;
}

/* VFIO_MIG_GET_PRECOPY_INFO: nothing ahead of STOP_COPY, and nothing dirty. */
static long hdiov_mig_ioctl(struct file *filp, unsigned int cmd,
			    unsigned long arg)
{
#ifdef HDIOV_HAVE_MIG_PRE_COPY
	size_t minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);
	struct hdiov_mig_file *f = filp->private_data;
	struct vfio_precopy_info info;
	int ret = 0;

	if (cmd != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	if (copy_from_user(&info, (void __user *)arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	mutex_lock(&f->lock);
	if (f->disabled)
		ret = -ENODEV;
	else if (f->final)
		ret = -EINVAL;	/* only in PRE_COPY and PRE_COPY_P2P */
	else if (filp->f_pos < 0 || filp->f_pos > f->filled)
		ret = -EINVAL;
	info.initial_bytes = ret ? 0 : f->filled - filp->f_pos;
	info.dirty_bytes = 0;
	mutex_unlock(&f->lock);
	if (ret)
		return ret;
	return copy_to_user((void __user *)arg, &info, minsz) ? -EFAULT : 0;
#else
	return -ENOTTY;
#endif
}

static const struct file_operations hdiov_mig_save_fops = {
	.owner = THIS_MODULE,
	.read = hdiov_mig_read,
	.unlocked_ioctl = hdiov_mig_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = hdiov_mig_release,
};

static const struct file_operations hdiov_mig_resume_fops = {
	.owner = THIS_MODULE,
	.write = hdiov_mig_write,
	.release = hdiov_mig_release,
};

/* A new migration file for @v, whose state takes hdiov_mig_size() bytes. */
static struct hdiov_mig_file *hdiov_mig_file_new(struct hdiov_vdev *v,
						 bool saving)
{
	struct hdiov_mig_file *f;
	unsigned int n;

	f = kzalloc(sizeof(*f), GFP_KERNEL_ACCOUNT);
	if (!f)
		return ERR_PTR(-ENOMEM);
	mutex_lock(&v->lock);
	n = v->nr_qps;
	mutex_unlock(&v->lock);
	f->nr_qps = n;
	f->size = hdiov_mig_size(n);
	hdiov_mig_type_id(v, f->type_id);
	strscpy(f->name, dev_name(v->vdev.dev), sizeof(f->name));
	f->buf = kvzalloc(f->size, GFP_KERNEL_ACCOUNT);
	if (!f->buf) {
		kfree(f);
		return ERR_PTR(-ENOMEM);
	}
	mutex_init(&f->lock);
	f->filp = anon_inode_getfile("hdiov_mig",
				     saving ? &hdiov_mig_save_fops :
					      &hdiov_mig_resume_fops,
				     f, saving ? O_RDONLY : O_WRONLY);
	if (IS_ERR(f->filp)) {
		int ret = PTR_ERR(f->filp);

		mutex_destroy(&f->lock);
		kvfree(f->buf);
		kfree(f);
		return ERR_PTR(ret);
	}
	stream_open(f->filp->f_inode, f->filp);
	return f;
}

static void hdiov_mig_file_put(struct hdiov_mig_file **slot)
{
	struct hdiov_mig_file *f = *slot;

	if (!f)
		return;
	mutex_lock(&f->lock);
	f->disabled = true;
	f->filled = 0;
	mutex_unlock(&f->lock);
	fput(f->filp);
	*slot = NULL;
}

static void hdiov_mig_files_put(struct hdiov_vdev *v)
{
	lockdep_assert_held(&v->mig.lock);
	hdiov_mig_file_put(&v->mig.saving);
	hdiov_mig_file_put(&v->mig.resuming);
}

/* Hold the engine off @v, or let it go again. mig.lock held. */
static void hdiov_mig_hold(struct hdiov_vdev *v, bool hold)
{
	lockdep_assert_held(&v->mig.lock);
	if (v->mig.held == hold)
		return;
	mutex_lock(&v->lock);
	if (hold)
		hdiov_engine_hold(v);
	else
		hdiov_engine_unhold(v);
	mutex_unlock(&v->lock);
	v->mig.held = hold;
}

static u32 hdiov_mig_phase(u32 cq_tail, u32 ring_size)
{
	return ring_size && (cq_tail & ring_size) ? 0 : 1;
}

/* Write the state of @v into @buf (hdiov_mig_size() bytes). */
static void hdiov_mig_capture(struct hdiov_vdev *v, u8 *buf, size_t size)
{
	struct hdiov_mig_header *h = (void *)buf;
	struct hdiov_mig_dev *d = (void *)(buf + sizeof(*h));
	struct hdiov_mig_qp *q;
	__le64 *pba;
	unsigned int i, n;
	u32 *db;

	mutex_lock(&v->lock);
	n = v->nr_qps;
	memset(buf, 0, size);
	h->magic = cpu_to_le32(HDIOV_MIG_MAGIC);
	h->version = cpu_to_le32(HDIOV_MIG_VERSION);
	memcpy(h->spec_hash, hdiov_mig_spec_hash, HDIOV_MIG_ID_LEN);
	hdiov_mig_type_id(v, h->type_id);
	h->nr_qps = cpu_to_le32(n);
	h->length = cpu_to_le32(size);
	h->contract = cpu_to_le32(HDIOV_VERSION_VALUE);

	memcpy(d->cfg, v->cfg, HDIOV_CFG_SIZE);
	d->dev_ctrl = cpu_to_le32(v->dev_ctrl);
	d->dev_status = cpu_to_le32(v->dev_status);
	d->weight = cpu_to_le32(READ_ONCE(v->weight));
	d->flags = cpu_to_le32((v->dma_stopped ? HDIOV_MIG_F_DMA_STOPPED : 0) |
			       (v->intx_masked ? HDIOV_MIG_F_INTX_MASKED : 0));
	d->stats[0] = cpu_to_le64(atomic64_read(&v->stats.submitted));
	d->stats[1] = cpu_to_le64(atomic64_read(&v->stats.completed));
	d->stats[2] = cpu_to_le64(atomic64_read(&v->stats.bytes));
	d->stats[3] = cpu_to_le64(atomic64_read(&v->stats.errors));
	d->stats[4] = cpu_to_le64(atomic64_read(&v->stats.irqs));
	d->stats[5] = cpu_to_le64(atomic64_read(&v->stats.kicks));

	memcpy(buf + hdiov_mig_table_off(), v->msix_table,
	       (size_t)(1 + n) * HDIOV_MSIX_ENTRY_SIZE);
	pba = (void *)(buf + hdiov_mig_pba_off(n));
	for (i = 0; i < 1 + n; i++) {
		if (test_bit(i, v->msix_pba))
			pba[i / 64] |= cpu_to_le64(BIT_ULL(i % 64));
	}

	q = (void *)(buf + hdiov_mig_qps_off(n));
	for (i = 0; i < n; i++, q++) {
		struct hdiov_qp *qp = &v->qps[i];

		db = v->doorbells + (size_t)i * HDIOV_DB_PAGE;
		q->sq_base = cpu_to_le64(qp->sq_base);
		q->cq_base = cpu_to_le64(qp->cq_base);
		q->ring_size = cpu_to_le32(qp->ring_size);
		q->ctrl = cpu_to_le32(qp->ctrl);
		q->status = cpu_to_le32(qp->status);
		q->msix_vector = cpu_to_le32(qp->msix_vector);
		q->sq_head = cpu_to_le32(qp->sq_head);
		q->cq_tail = cpu_to_le32(qp->cq_tail);
		q->irq_coalesce = cpu_to_le32(qp->irq_coalesce);
		q->irq_pending = cpu_to_le32(qp->irq_pending);
		q->sq_tail = cpu_to_le32(READ_ONCE(db[HDIOV_DB_SQ_TAIL / 4]));
		q->cq_head = cpu_to_le32(READ_ONCE(db[HDIOV_DB_CQ_HEAD / 4]));
		q->phase = cpu_to_le32(hdiov_mig_phase(qp->cq_tail,
						       qp->ring_size));
	}
	mutex_unlock(&v->lock);
	h->crc = cpu_to_le32(~crc32c(~0U, buf, size));
}

/* Why QP record @q does not describe a QP of a VDEV with @n QPs, or NULL. */
static const char *hdiov_mig_check_qp(const struct hdiov_mig_qp *q,
				      unsigned int n)
{
	u32 ring = le32_to_cpu(q->ring_size), ctrl = le32_to_cpu(q->ctrl);
	u32 status = le32_to_cpu(q->status);
	u32 code = status >> HDIOV_QP_STATUS_CODE_SHIFT;
	u32 coalesce = le32_to_cpu(q->irq_coalesce);

	if (ring && (ring < HDIOV_MIN_RING || ring > HDIOV_MAX_RING ||
		     !is_power_of_2(ring)))
		return "QP ring size";
	if (le64_to_cpu(q->sq_base) & (HDIOV_SQ_ALIGN - 1) ||
	    le64_to_cpu(q->cq_base) & (HDIOV_CQ_ALIGN - 1))
		return "QP ring base alignment";
	if (ctrl & ~(HDIOV_QP_CTRL_ENABLE | HDIOV_QP_CTRL_IRQ_ENABLE))
		return "QP_CTRL";
	if ((status & ~(HDIOV_QP_STATUS_ENABLED | HDIOV_QP_STATUS_ERROR |
			GENMASK(31, HDIOV_QP_STATUS_CODE_SHIFT))) ||
	    !(status & HDIOV_QP_STATUS_ENABLED) != !(ctrl & HDIOV_QP_CTRL_ENABLE) ||
	    !(status & HDIOV_QP_STATUS_ERROR) != !code ||
	    code > HDIOV_QP_ERR_SQ_TAIL)
		return "QP_STATUS";
	if (le32_to_cpu(q->msix_vector) >= 1 + n)
		return "QP MSIX_VECTOR";
	/* Pending stays below the largest IRQ_COALESCE ever set. */
	if (coalesce > HDIOV_MAX_RING ||
	    le32_to_cpu(q->irq_pending) >= HDIOV_MAX_RING)
		return "QP IRQ_COALESCE";
	if (le32_to_cpu(q->phase) != hdiov_mig_phase(le32_to_cpu(q->cq_tail),
						     ring))
		return "QP phase";
	if (q->rsvd)
		return "QP reserved field";
	return NULL;
}

/* Why the state in @buf (@size bytes, for @v) cannot be loaded, or NULL. */
static const char *hdiov_mig_check(struct hdiov_mig_file *f, const u8 *buf,
				   size_t size)
{
	const struct hdiov_mig_header *h = (const void *)buf;
	const struct hdiov_mig_dev *d = (const void *)(buf + sizeof(*h));
	const struct hdiov_mig_qp *q;
	const __le64 *pba;
	unsigned int i, n = f->nr_qps;
	const char *why;
	u32 crc;

	if (size < sizeof(*h))
		return "truncated header";
	why = hdiov_mig_check_header(f, h);
	if (why)
		return why;
	if (size != f->size)
		return "truncated";
	crc = crc32c(~0U, buf, offsetof(struct hdiov_mig_header, crc));
	crc = crc32c(crc, "\0\0\0\0", sizeof(h->crc));
	crc = ~crc32c(crc, buf + sizeof(*h), size - sizeof(*h));
	if (crc != le32_to_cpu(h->crc))
		return "CRC mismatch";
	if (le32_to_cpu(d->dev_ctrl) & ~HDIOV_DEV_CTRL_ENABLE ||
	    le32_to_cpu(d->dev_status) &
	    ~(HDIOV_DEV_STATUS_ENABLED | HDIOV_DEV_STATUS_FATAL))
		return "DEV_CTRL or DEV_STATUS";
	if (le32_to_cpu(d->weight) < HDIOV_WEIGHT_MIN ||
	    le32_to_cpu(d->weight) > HDIOV_WEIGHT_MAX)
		return "weight";
	if (le32_to_cpu(d->flags) &
	    ~(HDIOV_MIG_F_DMA_STOPPED | HDIOV_MIG_F_INTX_MASKED))
		return "device flags";
	pba = (const void *)(buf + hdiov_mig_pba_off(n));
	for (i = 1 + n; i < hdiov_mig_pba_size(n) * 8; i++) {
		if (le64_to_cpu(pba[i / 64]) & BIT_ULL(i % 64))
			return "PBA bit past the last vector";
	}
	q = (const void *)(buf + hdiov_mig_qps_off(n));
	for (i = 0; i < n; i++) {
		why = hdiov_mig_check_qp(&q[i], n);
		if (why)
			return why;
	}
	return NULL;
}

/*
 * Config space: what a user could have written over power-on config space
 * must give exactly the saved bytes (read-only fields, BAR sizes, MSI-X
 * table size). On a mismatch @v's config space is put back. vdev.lock held.
 */
static bool hdiov_mig_load_cfg(struct hdiov_vdev *v, const u8 *cfg)
{
	bool dma_stopped = v->dma_stopped;
	u8 *old;

	lockdep_assert_held(&v->lock);
	old = kmemdup(v->cfg, HDIOV_CFG_SIZE, GFP_KERNEL);
	if (!old)
		return false;
	/*
	 * From power-on state neither Bus Master nor the MSI-X mask goes from
	 * 1 to 0, so nothing is stopped or delivered; setting Bus Master may
	 * clear dma_stopped, which the state sets anyway (or is put back).
	 */
	hdiov_cfg_init(v);
	hdiov_cfg_write(v, 0, cfg, HDIOV_CFG_SIZE);
	if (memcmp(v->cfg, cfg, HDIOV_CFG_SIZE)) {
		memcpy(v->cfg, old, HDIOV_CFG_SIZE);
		v->dma_stopped = dma_stopped;
		kfree(old);
		return false;
	}
	kfree(old);
	return true;
}

/* Load a checked state into @v, whose engine is held off. vdev.lock held. */
static void hdiov_mig_load_regs(struct hdiov_vdev *v, const u8 *buf)
{
	const struct hdiov_mig_dev *d =
		(const void *)(buf + sizeof(struct hdiov_mig_header));
	const struct hdiov_mig_qp *q;
	const __le64 *pba;
	unsigned int i, n = v->nr_qps;
	u32 flags = le32_to_cpu(d->flags);
	u32 *db;

	lockdep_assert_held(&v->lock);
	hdiov_regs_reset(v);
	v->dev_ctrl = le32_to_cpu(d->dev_ctrl);
	v->dev_status = le32_to_cpu(d->dev_status);
	WRITE_ONCE(v->weight, le32_to_cpu(d->weight));
	v->dma_stopped = flags & HDIOV_MIG_F_DMA_STOPPED;
	v->intx_masked = flags & HDIOV_MIG_F_INTX_MASKED;
	atomic64_set(&v->stats.submitted, le64_to_cpu(d->stats[0]));
	atomic64_set(&v->stats.completed, le64_to_cpu(d->stats[1]));
	atomic64_set(&v->stats.bytes, le64_to_cpu(d->stats[2]));
	atomic64_set(&v->stats.errors, le64_to_cpu(d->stats[3]));
	atomic64_set(&v->stats.irqs, le64_to_cpu(d->stats[4]));
	atomic64_set(&v->stats.kicks, le64_to_cpu(d->stats[5]));

	memcpy(v->msix_table, buf + hdiov_mig_table_off(),
	       (size_t)(1 + n) * HDIOV_MSIX_ENTRY_SIZE);
	pba = (const void *)(buf + hdiov_mig_pba_off(n));
	for (i = 0; i < 1 + n; i++) {
		if (le64_to_cpu(pba[i / 64]) & BIT_ULL(i % 64))
			__set_bit(i, v->msix_pba);
	}

	q = (const void *)(buf + hdiov_mig_qps_off(n));
	for (i = 0; i < n; i++, q++) {
		struct hdiov_qp *qp = &v->qps[i];

		db = v->doorbells + (size_t)i * HDIOV_DB_PAGE;
		qp->sq_base = le64_to_cpu(q->sq_base);
		qp->cq_base = le64_to_cpu(q->cq_base);
		qp->ring_size = le32_to_cpu(q->ring_size);
		qp->ctrl = le32_to_cpu(q->ctrl);
		qp->status = le32_to_cpu(q->status);
		qp->msix_vector = le32_to_cpu(q->msix_vector);
		qp->sq_head = le32_to_cpu(q->sq_head);
		qp->cq_tail = le32_to_cpu(q->cq_tail);
		qp->irq_coalesce = le32_to_cpu(q->irq_coalesce);
		qp->irq_pending = le32_to_cpu(q->irq_pending);
		WRITE_ONCE(db[HDIOV_DB_SQ_TAIL / 4], le32_to_cpu(q->sq_tail));
		WRITE_ONCE(db[HDIOV_DB_CQ_HEAD / 4], le32_to_cpu(q->cq_head));
		/* An enabled QP gets its rings pinned; it runs once released. */
		if ((qp->ctrl & HDIOV_QP_CTRL_ENABLE) &&
		    !(qp->status & HDIOV_QP_STATUS_ERROR))
			hdiov_rings_request(v, i);
	}
}

/* RESUMING -> STOP: check and load what the user wrote. mig.lock held. */
static int hdiov_mig_load(struct hdiov_vdev *v)
{
	struct hdiov_mig_file *f = v->mig.resuming;
	const char *why;
	size_t size;
	u8 *buf;

	lockdep_assert_held(&v->mig.lock);
	/* A private copy: the user cannot change it while it is checked. */
	buf = kvmalloc(f->size, GFP_KERNEL_ACCOUNT);
	if (!buf)
		return -ENOMEM;
	mutex_lock(&f->lock);
	size = f->filled;
	memcpy(buf, f->buf, size);
	mutex_unlock(&f->lock);

	why = hdiov_mig_check(f, buf, size);
	if (!why) {
		mutex_lock(&v->lock);
		if (v->nr_qps != f->nr_qps)
			why = "other queue-pair count";
		else if (!hdiov_mig_load_cfg(v, ((struct hdiov_mig_dev *)
						(buf + sizeof(struct hdiov_mig_header)))->cfg))
			why = "config space";
		else
			hdiov_mig_load_regs(v, buf);
		mutex_unlock(&v->lock);
	}
	kvfree(buf);
	if (why) {
		hdiov_mig_reject(f->name, why);
		return -EINVAL;
	}
	return 0;
}

/* Enter a saving state: the file, and in STOP_COPY the state itself. */
static struct file *hdiov_mig_save(struct hdiov_vdev *v, bool final)
{
	struct hdiov_mig_file *f = v->mig.saving;
	u8 *buf;

	lockdep_assert_held(&v->mig.lock);
	if (!f) {
		f = hdiov_mig_file_new(v, true);
		if (IS_ERR(f))
			return ERR_CAST(f);
		v->mig.saving = f;
	}
	if (final) {
		/* Captured aside: the file's lock is never held with vdev.lock. */
		buf = kvmalloc(f->size, GFP_KERNEL_ACCOUNT);
		if (!buf)
			return ERR_PTR(-ENOMEM);
		hdiov_mig_capture(v, buf, f->size);
		mutex_lock(&f->lock);
		memcpy(f->buf, buf, f->size);
		f->filled = f->size;
		f->final = true;
		mutex_unlock(&f->lock);
		kvfree(buf);
	}
	/* Coming from PRE_COPY_P2P, the user already has the file. */
	if (final && v->mig.state != VFIO_DEVICE_STATE_STOP)
		return NULL;
	get_file(f->filp);
	return f->filp;
}

static struct file *hdiov_mig_step(struct hdiov_vdev *v,
				   enum vfio_device_mig_state next)
{
	enum vfio_device_mig_state cur = v->mig.state;
	struct hdiov_mig_file *f;
	int ret;

	lockdep_assert_held(&v->mig.lock);
	switch (cur << 8 | next) {
	case VFIO_DEVICE_STATE_RUNNING << 8 | VFIO_DEVICE_STATE_RUNNING_P2P:
		hdiov_mig_hold(v, true);
		return NULL;
	case VFIO_DEVICE_STATE_RUNNING_P2P << 8 | VFIO_DEVICE_STATE_RUNNING:
		hdiov_mig_hold(v, false);
		return NULL;
	case VFIO_DEVICE_STATE_RUNNING_P2P << 8 | VFIO_DEVICE_STATE_STOP:
	case VFIO_DEVICE_STATE_STOP << 8 | VFIO_DEVICE_STATE_RUNNING_P2P:
		return NULL;
	case VFIO_DEVICE_STATE_STOP << 8 | VFIO_DEVICE_STATE_STOP_COPY:
		return hdiov_mig_save(v, true);
	case VFIO_DEVICE_STATE_STOP_COPY << 8 | VFIO_DEVICE_STATE_STOP:
		hdiov_mig_files_put(v);
		return NULL;
	case VFIO_DEVICE_STATE_STOP << 8 | VFIO_DEVICE_STATE_RESUMING:
		f = hdiov_mig_file_new(v, false);
		if (IS_ERR(f))
			return ERR_CAST(f);
		v->mig.resuming = f;
		get_file(f->filp);
		return f->filp;
	case VFIO_DEVICE_STATE_RESUMING << 8 | VFIO_DEVICE_STATE_STOP:
		ret = hdiov_mig_load(v);
		if (ret)
			return ERR_PTR(ret);
		hdiov_mig_files_put(v);
		return NULL;
#ifdef HDIOV_HAVE_MIG_PRE_COPY
	case VFIO_DEVICE_STATE_RUNNING << 8 | VFIO_DEVICE_STATE_PRE_COPY:
	case VFIO_DEVICE_STATE_RUNNING_P2P << 8 | VFIO_DEVICE_STATE_PRE_COPY_P2P:
		return hdiov_mig_save(v, false);
	case VFIO_DEVICE_STATE_PRE_COPY << 8 | VFIO_DEVICE_STATE_PRE_COPY_P2P:
		hdiov_mig_hold(v, true);
		return NULL;
	case VFIO_DEVICE_STATE_PRE_COPY_P2P << 8 | VFIO_DEVICE_STATE_PRE_COPY:
		hdiov_mig_hold(v, false);
		return NULL;
	case VFIO_DEVICE_STATE_PRE_COPY << 8 | VFIO_DEVICE_STATE_RUNNING:
	case VFIO_DEVICE_STATE_PRE_COPY_P2P << 8 | VFIO_DEVICE_STATE_RUNNING_P2P:
		hdiov_mig_files_put(v);
		return NULL;
	case VFIO_DEVICE_STATE_PRE_COPY_P2P << 8 | VFIO_DEVICE_STATE_STOP_COPY:
		return hdiov_mig_save(v, true);
#endif
	default:
		/* vfio_mig_get_next_state() uses no other arc. */
		return ERR_PTR(-EINVAL);
	}
}

static struct file *hdiov_mig_set_state(struct vfio_device *vdev,
					enum vfio_device_mig_state new)
{
	struct hdiov_vdev *v = to_hdiov_vdev(vdev);
	enum vfio_device_mig_state next;
	struct file *res = NULL;
	int ret;

	mutex_lock(&v->mig.lock);
	while (v->mig.state != new) {
		ret = vfio_mig_get_next_state(vdev, v->mig.state, new, &next);
		if (ret) {
			res = ERR_PTR(ret);
			break;
		}
		res = hdiov_mig_step(v, next);
		if (IS_ERR(res))
			break;
		v->mig.state = next;
		/* Only the last arc may hand out a file. */
		if (res && next != new) {
			fput(res);
			res = ERR_PTR(-EINVAL);
			break;
		}
	}
	mutex_unlock(&v->mig.lock);
	return res;
}

static int hdiov_mig_get_state(struct vfio_device *vdev,
			       enum vfio_device_mig_state *state)
{
	struct hdiov_vdev *v = to_hdiov_vdev(vdev);

	mutex_lock(&v->mig.lock);
	*state = v->mig.state;
	mutex_unlock(&v->mig.lock);
	return 0;
}

#ifdef HDIOV_HAVE_MIG_DATA_SIZE
static int hdiov_mig_get_data_size(struct vfio_device *vdev,
				   unsigned long *stop_copy_length)
{
	struct hdiov_vdev *v = to_hdiov_vdev(vdev);

	mutex_lock(&v->lock);
	*stop_copy_length = hdiov_mig_size(v->nr_qps);
	mutex_unlock(&v->lock);
	return 0;
}
#endif

static const struct vfio_migration_ops hdiov_mig_ops = {
	.migration_set_state = hdiov_mig_set_state,
	.migration_get_state = hdiov_mig_get_state,
#ifdef HDIOV_HAVE_MIG_DATA_SIZE
	.migration_get_data_size = hdiov_mig_get_data_size,
#endif
};

/* At init, before the VDEV is registered: migration v2 is offered. */
void hdiov_mig_init(struct hdiov_vdev *v)
{
	mutex_init(&v->mig.lock);
	v->mig.state = VFIO_DEVICE_STATE_RUNNING;
	v->vdev.migration_flags = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P;
#ifdef HDIOV_HAVE_MIG_PRE_COPY
	v->vdev.migration_flags |= VFIO_MIGRATION_PRE_COPY;
#endif
	v->vdev.mig_ops = &hdiov_mig_ops;
}

void hdiov_mig_destroy(struct hdiov_vdev *v)
{
	mutex_destroy(&v->mig.lock);
}

/* Back to RUNNING: files closed, the engine released. */
static void hdiov_mig_running(struct hdiov_vdev *v)
{
	lockdep_assert_held(&v->mig.lock);
	hdiov_mig_files_put(v);
	hdiov_mig_hold(v, false);
	v->mig.state = VFIO_DEVICE_STATE_RUNNING;
}

/* The device is closed (out of its engine already). */
void hdiov_mig_close(struct hdiov_vdev *v)
{
	mutex_lock(&v->mig.lock);
	hdiov_mig_running(v);
	mutex_unlock(&v->mig.lock);
}

/* VFIO_DEVICE_RESET, after the device reset itself: RUNNING again. */
void hdiov_mig_reset(struct hdiov_vdev *v)
{
	mutex_lock(&v->mig.lock);
	hdiov_mig_running(v);
	mutex_unlock(&v->mig.lock);
}
