// SPDX-License-Identifier: GPL-2.0
/*
 * HD-IOV VDEVs: the mdev driver (create/remove), the VDEV's resources
 * (queue pairs, PASID, doorbell pages), its sysfs attributes, and the VFIO
 * device it presents (contract sections 3 and 4).
 */
#include <linux/bitmap.h>
#include <linux/ctype.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/pci_regs.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "hdiov.h"

#define HDIOV_WEIGHT_DEFAULT	10
#define HDIOV_WEIGHT_MAX	100

/*
 * Per-QP storage of a VDEV with @n queue pairs. Allocated whole before it
 * replaces the old one, so that a resize either happens or changes nothing.
 */
struct hdiov_qp_set {
	unsigned int n;
	struct hdiov_qp *qps;
	void *doorbells;
	bool doorbells_vmalloc;
	u8 *msix_table;
	struct eventfd_ctx **msix_trigger;
};

/*
 * Doorbell pages: physically contiguous when the allocator has them (cheap to
 * get and to free, mapped to the user with remap_pfn_range()), else vmalloc.
 */
static void *hdiov_doorbells_alloc(unsigned int n, bool *vmalloced)
{
	size_t size = (size_t)n * HDIOV_DB_PAGE;
	void *p;

	p = alloc_pages_exact(size, GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN |
				    __GFP_NORETRY);
	*vmalloced = !p;
	return p ? p : vmalloc_user(size);
}

static void hdiov_doorbells_free(void *p, unsigned int n, bool vmalloced)
{
	if (!p)
		return;
	if (vmalloced)
		vfree(p);
	else
		free_pages_exact(p, (size_t)n * HDIOV_DB_PAGE);
}

static void hdiov_qp_set_free(struct hdiov_qp_set *s)
{
	kfree(s->msix_trigger);
	kfree(s->msix_table);
	hdiov_doorbells_free(s->doorbells, s->n, s->doorbells_vmalloc);
	kfree(s->qps);
}

static int hdiov_qp_set_alloc(struct hdiov_qp_set *s, unsigned int n)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	s->qps = kcalloc(n, sizeof(*s->qps), GFP_KERNEL);
	s->doorbells = hdiov_doorbells_alloc(n, &s->doorbells_vmalloc);
	s->msix_table = kcalloc(1 + n, HDIOV_MSIX_ENTRY_SIZE, GFP_KERNEL);
	s->msix_trigger = kcalloc(1 + n, sizeof(*s->msix_trigger), GFP_KERNEL);
	if (!s->qps || !s->doorbells || !s->msix_table || !s->msix_trigger) {
		hdiov_qp_set_free(s);
		return -ENOMEM;
	}
	return 0;
}

/* Move @s into @v (whose old set is handed back in @s). */
static void hdiov_qp_set_swap(struct hdiov_vdev *v, struct hdiov_qp_set *s)
{
	swap(v->nr_qps, s->n);
	swap(v->qps, s->qps);
	swap(v->doorbells, s->doorbells);
	swap(v->doorbells_vmalloc, s->doorbells_vmalloc);
	swap(v->msix_table, s->msix_table);
	swap(v->msix_trigger, s->msix_trigger);
}

/* Queue pairs and PASID (VFIO init callback: vdev->dev is the mdev). */
static int hdiov_vdev_init(struct vfio_device *vdev)
{
	struct hdiov_vdev *v = to_hdiov_vdev(vdev);
	struct mdev_device *mdev = to_mdev_device(vdev->dev);
	struct hdiov_parent *p = to_hdiov_parent(mdev->type);
	struct hdiov_qp_set set;
	unsigned int i;
	u32 *ids;
	int ret;

	mutex_init(&v->lock);
	init_waitqueue_head(&v->idle_wq);
	INIT_LIST_HEAD(&v->engine_node);
	hdiov_pins_setup(v);
	v->parent = p;
	v->type = &hdiov_type_descs[mdev->type - p->types];
	v->weight = HDIOV_WEIGHT_DEFAULT;
	v->pasid = -1;
	hdiov_mig_init(v);

	ret = hdiov_qp_set_alloc(&set, v->type->qps);
	if (ret)
		return ret;
	ids = kcalloc(set.n, sizeof(*ids), GFP_KERNEL);
	if (!ids) {
		ret = -ENOMEM;
		goto err_set;
	}
	ret = hdiov_pasid_alloc(p);
	if (ret < 0)
		goto err_ids;
	v->pasid = ret;
	ret = hdiov_pool_alloc(p, ids, set.n);
	if (ret)
		goto err_pasid;
	for (i = 0; i < set.n; i++)
		set.qps[i].pool_index = ids[i];
	kfree(ids);

	hdiov_qp_set_swap(v, &set);
	hdiov_cfg_init(v);
	hdiov_regs_reset(v);
	return 0;

err_pasid:
	hdiov_pasid_free(p, v->pasid);
	v->pasid = -1;
err_ids:
	kfree(ids);
err_set:
	hdiov_qp_set_free(&set);
	return ret;
}

/*
 * Give the queue pairs and the PASID back to the parent. Runs at remove,
 * once the device is closed, and again from release, where it finds nothing
 * left when remove got there first.
 */
static void hdiov_vdev_put_resources(struct hdiov_vdev *v)
{
	struct hdiov_qp_set set = { };
	unsigned int i;
	u32 *ids;

	mutex_lock(&v->lock);
	hdiov_qp_set_swap(v, &set);
	mutex_unlock(&v->lock);

	/* Nothing left (remove got here first): leave the parent alone. */
	if (set.n) {
		ids = kcalloc(set.n, sizeof(*ids), GFP_KERNEL | __GFP_NOFAIL);
		for (i = 0; i < set.n; i++)
			ids[i] = set.qps[i].pool_index;
		hdiov_pool_free(v->parent, ids, set.n);
		kfree(ids);
	}
	hdiov_qp_set_free(&set);

	if (v->pasid >= 0) {
		hdiov_pasid_free(v->parent, v->pasid);
		v->pasid = -1;
	}
}

static void hdiov_vdev_release(struct vfio_device *vdev)
{
	struct hdiov_vdev *v = to_hdiov_vdev(vdev);

	hdiov_vdev_put_resources(v);
	hdiov_mig_destroy(v);
	mutex_destroy(&v->lock);
#ifndef HDIOV_HAVE_CORE_FREE
	vfio_free_device(vdev);
#endif
}

/*
 * Change a flex VDEV's queue pairs to @n. Only while closed; on -ENOSPC or
 * -ENOMEM the VDEV keeps what it had.
 */
static int hdiov_vdev_resize(struct hdiov_vdev *v, unsigned int n)
{
	struct hdiov_qp_set set;
	unsigned int i, keep;
	u32 *ids;
	int ret;

	ret = hdiov_qp_set_alloc(&set, n);
	if (ret)
		return ret;
	mutex_lock(&v->lock);
	if (v->open) {
		ret = -EBUSY;
		goto out_unlock;
	}
	keep = min(n, v->nr_qps);
	for (i = 0; i < keep; i++)
		set.qps[i].pool_index = v->qps[i].pool_index;
	if (n > v->nr_qps) {
		ids = kcalloc(n - keep, sizeof(*ids), GFP_KERNEL);
		if (!ids) {
			ret = -ENOMEM;
			goto out_unlock;
		}
		ret = hdiov_pool_alloc(v->parent, ids, n - keep);
		for (i = 0; !ret && i < n - keep; i++)
			set.qps[keep + i].pool_index = ids[i];
		kfree(ids);
		if (ret)
			goto out_unlock;
	} else if (n < v->nr_qps) {
		ids = kcalloc(v->nr_qps - n, sizeof(*ids), GFP_KERNEL);
		if (!ids) {
			ret = -ENOMEM;
			goto out_unlock;
		}
		for (i = n; i < v->nr_qps; i++)
			ids[i - n] = v->qps[i].pool_index;
		hdiov_pool_free(v->parent, ids, v->nr_qps - n);
		kfree(ids);
	}
	hdiov_qp_set_swap(v, &set);
	hdiov_cfg_update_qps(v);
	hdiov_regs_reset(v);
out_unlock:
	mutex_unlock(&v->lock);
	hdiov_qp_set_free(&set);
	return ret;
}

/* Interrupts. Triggers are eventfds set through VFIO_DEVICE_SET_IRQS. */

/* MSI-X vector @vector is masked: its entry's mask bit, or the function mask. */
static bool hdiov_msix_masked(struct hdiov_vdev *v, unsigned int vector)
{
	u8 ctrl = v->msix_table[vector * HDIOV_MSIX_ENTRY_SIZE +
				PCI_MSIX_ENTRY_VECTOR_CTRL];

	return (ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT) || hdiov_cfg_msix_masked(v);
}

/*
 * Signal interrupt @vector of @v (a QP's completions): its MSI-X trigger,
 * held back in the PBA while the vector or the function is masked; with no
 * MSI-X trigger, INTx (automasked). vdev.lock held.
 */
void hdiov_irq_signal(struct hdiov_vdev *v, unsigned int vector)
{
	struct eventfd_ctx *t = NULL;

	lockdep_assert_held(&v->lock);
	if (vector < hdiov_nr_vectors(v))
		t = v->msix_trigger[vector];
	if (t && hdiov_msix_masked(v, vector)) {
		__set_bit(vector, v->msix_pba);
		return;
	}
	if (!t && v->intx_trigger && !v->intx_masked) {
		t = v->intx_trigger;
		v->intx_masked = true;
	}
	if (!t)
		return;
	hdiov_eventfd_signal(t);
	atomic64_inc(&v->stats.irqs);
}

/*
 * After an unmask (a vector's entry, or the function mask): every pending
 * vector no longer masked has its PBA bit cleared and is signalled, if it
 * still has a trigger. vdev.lock held.
 */
void hdiov_irq_deliver_pending(struct hdiov_vdev *v)
{
	struct eventfd_ctx *t;
	unsigned int vector;

	lockdep_assert_held(&v->lock);
	for_each_set_bit(vector, v->msix_pba, hdiov_nr_vectors(v)) {
		if (hdiov_msix_masked(v, vector))
			continue;
		__clear_bit(vector, v->msix_pba);
		t = v->msix_trigger[vector];
		if (t) {
			hdiov_eventfd_signal(t);
			atomic64_inc(&v->stats.irqs);
		}
	}
}

static void hdiov_put_trigger(struct eventfd_ctx **slot)
{
	if (*slot) {
		eventfd_ctx_put(*slot);
		*slot = NULL;
	}
}

static void hdiov_irqs_disable(struct hdiov_vdev *v)
{
	unsigned int i;

	for (i = 0; i < hdiov_nr_vectors(v); i++)
		hdiov_put_trigger(&v->msix_trigger[i]);
	hdiov_put_trigger(&v->intx_trigger);
	hdiov_put_trigger(&v->req_trigger);
	v->intx_masked = false;
}

static int hdiov_vdev_open(struct vfio_device *vdev)
{
	struct hdiov_vdev *v = to_hdiov_vdev(vdev);

	mutex_lock(&v->lock);
	/* A new user starts from power-on config space (no mask left set). */
	hdiov_cfg_init(v);
	hdiov_regs_reset(v);
	v->open = true;
	mutex_unlock(&v->lock);
	hdiov_engine_attach(v);
	return 0;
}

static void hdiov_vdev_close(struct vfio_device *vdev)
{
	struct hdiov_vdev *v = to_hdiov_vdev(vdev);

	hdiov_engine_detach(v);
	hdiov_mig_close(v);
	hdiov_pins_release(v);
	mutex_lock(&v->lock);
	v->open = false;
	v->dma_stopped = false;
	hdiov_regs_reset(v);
	hdiov_irqs_disable(v);
	mutex_unlock(&v->lock);
}

/* Removing an open device: ask its user to let go (the REQ interrupt). */
static void hdiov_vdev_request(struct vfio_device *vdev, unsigned int count)
{
	struct hdiov_vdev *v = to_hdiov_vdev(vdev);

	mutex_lock(&v->lock);
	if (v->req_trigger) {
		if (!count)
			dev_info(vdev->dev, "removal requested, signalling REQ\n");
		hdiov_eventfd_signal(v->req_trigger);
	} else if (!count) {
		dev_info(vdev->dev,
			 "removal requested, waiting for the user to close\n");
	}
	mutex_unlock(&v->lock);
}

/* Region access: split into naturally aligned 4, 2 and 1 byte pieces. */

static u64 hdiov_region_size(struct hdiov_vdev *v, unsigned int index)
{
	switch (index) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		return HDIOV_CFG_SIZE;
	case VFIO_PCI_BAR0_REGION_INDEX:
		return HDIOV_BAR0_SIZE;
	case VFIO_PCI_BAR2_REGION_INDEX:
		return hdiov_bar2_size(v->nr_qps);
	default:
		return 0;
	}
}

static void hdiov_access(struct hdiov_vdev *v, unsigned int index, u64 pos,
			 u8 *data, unsigned int len, bool write)
{
	unsigned int i;
	__le32 le;
	u32 val;

	if (index == VFIO_PCI_CONFIG_REGION_INDEX) {
		if (write)
			hdiov_cfg_write(v, pos, data, len);
		else
			hdiov_cfg_read(v, pos, data, len);
		return;
	}
	if (len == 4) {
		if (write) {
			memcpy(&le, data, sizeof(le));
			val = le32_to_cpu(le);
			if (index == VFIO_PCI_BAR0_REGION_INDEX)
				hdiov_bar0_write(v, pos, val);
			else
				hdiov_bar2_write(v, pos, val);
		} else {
			val = index == VFIO_PCI_BAR0_REGION_INDEX ?
			      hdiov_bar0_read(v, pos) : hdiov_bar2_read(v, pos);
			le = cpu_to_le32(val);
			memcpy(data, &le, sizeof(le));
		}
		return;
	}
	/* Sub-dword: reads see the register's bytes, writes only hit tables. */
	for (i = 0; i < len; i++) {
		if (index == VFIO_PCI_BAR0_REGION_INDEX && write)
			hdiov_bar0_write8(v, pos + i, data[i]);
		else if (index == VFIO_PCI_BAR0_REGION_INDEX)
			data[i] = hdiov_bar0_read8(v, pos + i);
		else if (!write)
			data[i] = hdiov_bar2_read(v, (pos + i) & ~3ULL) >>
				  (8 * ((pos + i) & 3));
	}
}

/* The naturally aligned piece at @pos with @left bytes to go: 4, 2 or 1. */
static unsigned int hdiov_piece(u64 pos, size_t left)
{
	if (left >= 4 && !(pos & 3))
		return 4;
	if (left >= 2 && !(pos & 1))
		return 2;
	return 1;
}

/*
 * Region reads and writes. User memory may be slow or fault (userfaultfd,
 * FUSE), so it is never touched with hdiov_vdev.lock held (contract section
 * 8, tenants): each chunk of at most HDIOV_RW_CHUNK bytes is copied in
 * before the lock is taken, or copied out after it is dropped. A config
 * space access (256 bytes at most) is one chunk. Chunks end dword-aligned,
 * so no piece straddles two of them.
 */
#define HDIOV_RW_CHUNK	HDIOV_CFG_SIZE

static ssize_t hdiov_rw(struct hdiov_vdev *v, char __user *ubuf, size_t count,
			loff_t *ppos, bool write)
{
	unsigned int index = HDIOV_OFFSET_TO_INDEX(*ppos);
	u64 pos = *ppos & HDIOV_OFFSET_MASK, size;
	size_t done = 0, n, valid, k;
	u8 buf[HDIOV_RW_CHUNK];
	unsigned int len;

	if (*ppos < 0)
		return -EINVAL;
	/* Region sizes change only while the device is closed. */
	mutex_lock(&v->lock);
	size = hdiov_region_size(v, index);
	mutex_unlock(&v->lock);
	if (pos >= size || count > size - pos)
		return -EINVAL;
	while (done < count) {
		n = min_t(size_t, count - done, sizeof(buf) - (pos & 3));
		valid = n;
		if (write)
			valid = n - copy_from_user(buf, ubuf + done, n);
		mutex_lock(&v->lock);
		for (k = 0; k < valid; k += len) {
			len = hdiov_piece(pos + k, n - k);
			if (len > valid - k)
				break;
			hdiov_access(v, index, pos + k, buf + k, len, write);
		}
		mutex_unlock(&v->lock);
		if (!write)
			k -= copy_to_user(ubuf + done, buf, k);
		done += k;
		pos += k;
		if (k < n)
			break;
	}
	if (!done && count)
		return -EFAULT;
	*ppos += done;
	return done;
}

static ssize_t hdiov_vdev_read(struct vfio_device *vdev, char __user *buf,
			       size_t count, loff_t *ppos)
{
	return hdiov_rw(to_hdiov_vdev(vdev), buf, count, ppos, false);
}

static ssize_t hdiov_vdev_write(struct vfio_device *vdev,
				const char __user *buf, size_t count,
				loff_t *ppos)
{
	return hdiov_rw(to_hdiov_vdev(vdev), (char __user *)buf, count, ppos,
			true);
}

/*
 * The fast path: the doorbell pages of BAR2, mapped straight to the user.
 *
 * Called with mmap_lock held, so hdiov_vdev.lock is not taken here (the
 * engine holds its own lock across vfio_dma_rw(), which may take mmap_lock;
 * see hdiov.h). Nothing read here can change meanwhile: nr_qps and the
 * doorbells change only while the device is closed, and this runs on an
 * open device file.
 */
static int hdiov_vdev_mmap(struct vfio_device *vdev, struct vm_area_struct *vma)
{
	struct hdiov_vdev *v = to_hdiov_vdev(vdev);
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;
	unsigned long len = vma->vm_end - vma->vm_start;
	unsigned int index = HDIOV_OFFSET_TO_INDEX(off);
	u64 size = (u64)v->nr_qps * HDIOV_DB_PAGE;

	mmap_assert_locked(vma->vm_mm);
	off &= HDIOV_OFFSET_MASK;
	if (index != VFIO_PCI_BAR2_REGION_INDEX)
		return -EINVAL;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (off >= size || len > size - off)
		return -EINVAL;
	/*
	 * The pages outlive the mapping: it holds the device file open, and the
	 * doorbells are freed only once the device is closed.
	 */
	if (v->doorbells_vmalloc)
		return remap_vmalloc_range(vma, v->doorbells, off >> PAGE_SHIFT);
	return remap_pfn_range(vma, vma->vm_start,
			       PHYS_PFN(virt_to_phys(v->doorbells + off)), len,
			       vma->vm_page_prot);
}

/* ioctls */

/* Read a struct whose first u32 is argsz; it must cover @minsz bytes. */
static int hdiov_get_arg(void *dst, unsigned long arg, size_t minsz)
{
	if (copy_from_user(dst, (void __user *)arg, minsz))
		return -EFAULT;
	if (*(u32 *)dst < minsz)
		return -EINVAL;
	return 0;
}

static int hdiov_put_arg(unsigned long arg, const void *src, size_t minsz)
{
	return copy_to_user((void __user *)arg, src, minsz) ? -EFAULT : 0;
}

static long hdiov_ioctl_device_info(struct hdiov_vdev *v, unsigned long arg)
{
	size_t minsz = offsetofend(struct vfio_device_info, num_irqs);
	struct vfio_device_info info;
	int ret;

	ret = hdiov_get_arg(&info, arg, minsz);
	if (ret)
		return ret;
	info.flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
	info.num_regions = VFIO_PCI_NUM_REGIONS;
	info.num_irqs = VFIO_PCI_NUM_IRQS;
	return hdiov_put_arg(arg, &info, minsz);
}

/* Fill @info for info->index; BAR2 gets the sparse-mmap capability. */
static int hdiov_region_info(struct hdiov_vdev *v, struct vfio_region_info *info,
			     struct vfio_info_cap *caps)
{
	struct vfio_region_info_cap_sparse_mmap *sparse;
	size_t size = struct_size(sparse, areas, 1);
	int ret;

	if (info->index >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;
	mutex_lock(&v->lock);
	info->offset = HDIOV_INDEX_TO_OFFSET(info->index);
	info->size = hdiov_region_size(v, info->index);
	info->flags = info->size ? VFIO_REGION_INFO_FLAG_READ |
				   VFIO_REGION_INFO_FLAG_WRITE : 0;
	if (info->index != VFIO_PCI_BAR2_REGION_INDEX) {
		mutex_unlock(&v->lock);
		return 0;
	}
	sparse = kzalloc(size, GFP_KERNEL);
	if (!sparse) {
		mutex_unlock(&v->lock);
		return -ENOMEM;
	}
	sparse->header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
	sparse->header.version = 1;
	sparse->nr_areas = 1;
	sparse->areas[0].offset = 0;
	sparse->areas[0].size = (u64)v->nr_qps * HDIOV_DB_PAGE;
	mutex_unlock(&v->lock);
	info->flags |= VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS;
	ret = vfio_info_add_capability(caps, &sparse->header, size);
	kfree(sparse);
	return ret;
}

#ifdef HDIOV_HAVE_REGION_INFO_CAPS
static int hdiov_vdev_region_info_caps(struct vfio_device *vdev,
				       struct vfio_region_info *info,
				       struct vfio_info_cap *caps)
{
	return hdiov_region_info(to_hdiov_vdev(vdev), info, caps);
}
#else
static long hdiov_ioctl_region_info(struct hdiov_vdev *v, unsigned long arg)
{
	size_t minsz = offsetofend(struct vfio_region_info, offset);
	struct vfio_info_cap caps = { .buf = NULL, .size = 0 };
	struct vfio_region_info info;
	int ret;

	ret = hdiov_get_arg(&info, arg, minsz);
	if (ret)
		return ret;
	ret = hdiov_region_info(v, &info, &caps);
	if (ret)
		goto out;
	if (caps.size) {
		info.flags |= VFIO_REGION_INFO_FLAG_CAPS;
		if (info.argsz < sizeof(info) + caps.size) {
			/* Tell the user how much room the capabilities need. */
			info.argsz = sizeof(info) + caps.size;
			info.cap_offset = 0;
		} else {
			vfio_info_cap_shift(&caps, sizeof(info));
			if (copy_to_user((void __user *)arg + sizeof(info),
					 caps.buf, caps.size)) {
				ret = -EFAULT;
				goto out;
			}
			info.cap_offset = sizeof(info);
		}
	}
	ret = hdiov_put_arg(arg, &info, minsz);
out:
	kfree(caps.buf);
	return ret;
}
#endif

static long hdiov_ioctl_irq_info(struct hdiov_vdev *v, unsigned long arg)
{
	size_t minsz = offsetofend(struct vfio_irq_info, count);
	struct vfio_irq_info info;
	int ret;

	ret = hdiov_get_arg(&info, arg, minsz);
	if (ret)
		return ret;
	info.flags = 0;
	info.count = 0;
	switch (info.index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		info.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
			     VFIO_IRQ_INFO_AUTOMASKED;
		info.count = 1;
		break;
	case VFIO_PCI_MSIX_IRQ_INDEX:
		info.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
		mutex_lock(&v->lock);
		info.count = hdiov_nr_vectors(v);
		mutex_unlock(&v->lock);
		break;
	case VFIO_PCI_REQ_IRQ_INDEX:
		info.flags = VFIO_IRQ_INFO_EVENTFD;
		info.count = 1;
		break;
	case VFIO_PCI_MSI_IRQ_INDEX:
	case VFIO_PCI_ERR_IRQ_INDEX:
		break;
	default:
		return -EINVAL;
	}
	return hdiov_put_arg(arg, &info, minsz);
}

static unsigned int hdiov_irq_count(struct hdiov_vdev *v, unsigned int index)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
	case VFIO_PCI_REQ_IRQ_INDEX:
		return 1;
	case VFIO_PCI_MSIX_IRQ_INDEX:
		return hdiov_nr_vectors(v);
	default:
		return 0;
	}
}

/* The trigger slot of vector @i of interrupt @index. */
static struct eventfd_ctx **hdiov_trigger_slot(struct hdiov_vdev *v,
					       unsigned int index,
					       unsigned int i)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		return &v->intx_trigger;
	case VFIO_PCI_REQ_IRQ_INDEX:
		return &v->req_trigger;
	default:
		return &v->msix_trigger[i];
	}
}

static void hdiov_eventfds_put(struct eventfd_ctx **ctx, unsigned int n)
{
	unsigned int i;

	if (!ctx)
		return;
	for (i = 0; i < n; i++) {
		if (ctx[i])
			eventfd_ctx_put(ctx[i]);
	}
	kfree(ctx);
}

/* The eventfds of @fds (NULL for fd -1), taken without hdiov_vdev.lock. */
static struct eventfd_ctx **hdiov_eventfds_get(const s32 *fds, unsigned int n)
{
	struct eventfd_ctx **ctx;
	unsigned int i;
	int ret;

	ctx = kcalloc(n, sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return ERR_PTR(-ENOMEM);
	for (i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		ctx[i] = eventfd_ctx_fdget(fds[i]);
		if (IS_ERR(ctx[i])) {
			ret = PTR_ERR(ctx[i]);
			ctx[i] = NULL;
			hdiov_eventfds_put(ctx, n);
			return ERR_PTR(ret);
		}
	}
	return ctx;
}

/* Whether interrupt @index may not be armed: INTx and MSI-X exclude each other. */
static bool hdiov_irq_conflict(struct hdiov_vdev *v, unsigned int index)
{
	unsigned int i;

	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		for (i = 0; i < hdiov_nr_vectors(v); i++) {
			if (v->msix_trigger[i])
				return true;
		}
		return false;
	case VFIO_PCI_MSIX_IRQ_INDEX:
		return v->intx_trigger;
	default:
		return false;
	}
}

/*
 * Install the eventfds of @ctx (NULL clears a vector); @ctx gets back the
 * triggers they replace, for the caller to put. Arming INTx while an MSI-X
 * trigger is set, or the reverse, is -EINVAL and changes nothing; clearing
 * is always allowed.
 */
static int hdiov_set_eventfds(struct hdiov_vdev *v, struct vfio_irq_set *hdr,
			      struct eventfd_ctx **ctx)
{
	bool arming = false;
	unsigned int i;

	for (i = 0; i < hdr->count; i++)
		arming |= !!ctx[i];
	if (arming && hdiov_irq_conflict(v, hdr->index))
		return -EINVAL;
	for (i = 0; i < hdr->count; i++)
		swap(*hdiov_trigger_slot(v, hdr->index, hdr->start + i), ctx[i]);
	return 0;
}

static int hdiov_set_irqs_locked(struct hdiov_vdev *v, struct vfio_irq_set *hdr,
				 const void *data, struct eventfd_ctx **ctx)
{
	u32 type = hdr->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	u32 action = hdr->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	struct eventfd_ctx *t;
	unsigned int i;

	lockdep_assert_held(&v->lock);
	if (action == VFIO_IRQ_SET_ACTION_MASK ||
	    action == VFIO_IRQ_SET_ACTION_UNMASK) {
		if (hdr->index != VFIO_PCI_INTX_IRQ_INDEX ||
		    type == VFIO_IRQ_SET_DATA_EVENTFD)
			return -EINVAL;
		if (hdr->count && (type == VFIO_IRQ_SET_DATA_NONE ||
				   ((const u8 *)data)[0]))
			v->intx_masked = action == VFIO_IRQ_SET_ACTION_MASK;
		return 0;
	}
	if (action != VFIO_IRQ_SET_ACTION_TRIGGER)
		return -EINVAL;
	if (type == VFIO_IRQ_SET_DATA_EVENTFD)
		return hdiov_set_eventfds(v, hdr, ctx);
	if (!hdr->count && type == VFIO_IRQ_SET_DATA_NONE) {
		/* count 0: disable every vector of this interrupt */
		for (i = 0; i < hdiov_irq_count(v, hdr->index); i++)
			hdiov_put_trigger(hdiov_trigger_slot(v, hdr->index, i));
		return 0;
	}
	/* Loopback: fire the vectors the user names. */
	for (i = 0; i < hdr->count; i++) {
		if (type == VFIO_IRQ_SET_DATA_BOOL && !((const u8 *)data)[i])
			continue;
		t = *hdiov_trigger_slot(v, hdr->index, hdr->start + i);
		if (t)
			hdiov_eventfd_signal(t);
	}
	return 0;
}

/*
 * The user's data and eventfds are taken before hdiov_vdev.lock, and the
 * triggers replaced are put after it (contract section 8, tenants).
 */
static long hdiov_ioctl_set_irqs(struct hdiov_vdev *v, unsigned long arg)
{
	size_t minsz = offsetofend(struct vfio_irq_set, count);
	struct eventfd_ctx **ctx = NULL;
	struct vfio_irq_set hdr;
	size_t data_size = 0;
	unsigned int count;
	void *data = NULL;
	int ret;

	ret = hdiov_get_arg(&hdr, arg, minsz);
	if (ret)
		return ret;
	/* Vector counts change only while the device is closed. */
	mutex_lock(&v->lock);
	count = hdiov_irq_count(v, hdr.index);
	mutex_unlock(&v->lock);
	ret = vfio_set_irqs_validate_and_prepare(&hdr, count,
						 VFIO_PCI_NUM_IRQS, &data_size);
	if (ret)
		return ret;
	if (data_size) {
		data = memdup_user((void __user *)(arg + minsz), data_size);
		if (IS_ERR(data))
			return PTR_ERR(data);
	}
	if ((hdr.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) ==
	    VFIO_IRQ_SET_ACTION_TRIGGER &&
	    (hdr.flags & VFIO_IRQ_SET_DATA_TYPE_MASK) ==
	    VFIO_IRQ_SET_DATA_EVENTFD) {
		ctx = hdiov_eventfds_get(data, hdr.count);
		if (IS_ERR(ctx)) {
			ret = PTR_ERR(ctx);
			ctx = NULL;
			goto out;
		}
	}
	mutex_lock(&v->lock);
	ret = hdiov_set_irqs_locked(v, &hdr, data, ctx);
	mutex_unlock(&v->lock);
out:
	hdiov_eventfds_put(ctx, hdr.count);
	kfree(data);
	return ret;
}

static long hdiov_vdev_ioctl(struct vfio_device *vdev, unsigned int cmd,
			     unsigned long arg)
{
	struct hdiov_vdev *v = to_hdiov_vdev(vdev);

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO:
		return hdiov_ioctl_device_info(v, arg);
#ifndef HDIOV_HAVE_REGION_INFO_CAPS
	case VFIO_DEVICE_GET_REGION_INFO:
		return hdiov_ioctl_region_info(v, arg);
#endif
	case VFIO_DEVICE_GET_IRQ_INFO:
		return hdiov_ioctl_irq_info(v, arg);
	case VFIO_DEVICE_SET_IRQS:
		return hdiov_ioctl_set_irqs(v, arg);
	case VFIO_DEVICE_RESET:
		mutex_lock(&v->lock);
		hdiov_engine_quiesce(v, -1);
		hdiov_regs_reset(v);
		mutex_unlock(&v->lock);
		hdiov_mig_reset(v);
		return 0;
	default:
		return -ENOTTY;
	}
}

static const struct vfio_device_ops hdiov_vfio_ops = {
	.name = KBUILD_MODNAME,
	.init = hdiov_vdev_init,
	.release = hdiov_vdev_release,
#ifdef HDIOV_HAVE_IOMMUFD_OPS
	.bind_iommufd = vfio_iommufd_emulated_bind,
	.unbind_iommufd = vfio_iommufd_emulated_unbind,
	.attach_ioas = vfio_iommufd_emulated_attach_ioas,
#endif
#ifdef HDIOV_HAVE_DETACH_IOAS
	.detach_ioas = vfio_iommufd_emulated_detach_ioas,
#endif
	.open_device = hdiov_vdev_open,
	.close_device = hdiov_vdev_close,
	.read = hdiov_vdev_read,
	.write = hdiov_vdev_write,
	.ioctl = hdiov_vdev_ioctl,
#ifdef HDIOV_HAVE_REGION_INFO_CAPS
	.get_region_info_caps = hdiov_vdev_region_info_caps,
#endif
	.mmap = hdiov_vdev_mmap,
	.request = hdiov_vdev_request,
	.dma_unmap = hdiov_vdev_dma_unmap,
};

/* sysfs: the hdiov/ group of each VDEV */

/*
 * Sysfs numbers are decimal (contract section 8): digits only, no sign, no
 * base prefix, no leading zero, at most one trailing newline. Anything else,
 * and overflow, is -EINVAL.
 */
static int hdiov_parse_decimal(const char *buf, unsigned int *val)
{
	if (!isdigit(buf[0]) || (buf[0] == '0' && isdigit(buf[1])))
		return -EINVAL;
	return kstrtouint(buf, 10, val) ? -EINVAL : 0;
}

static struct hdiov_vdev *dev_to_vdev(struct device *dev)
{
	return dev_get_drvdata(dev);
}

static ssize_t queue_pairs_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	struct hdiov_vdev *v = dev_to_vdev(dev);
	unsigned int n;

	mutex_lock(&v->lock);
	n = v->nr_qps;
	mutex_unlock(&v->lock);
	return sysfs_emit(buf, "%u\n", n);
}

static ssize_t queue_pairs_store(struct device *dev,
				 struct device_attribute *attr,
				 const char *buf, size_t count)
{
	struct hdiov_vdev *v = dev_to_vdev(dev);
	unsigned int n;
	int ret;

	if (!v->type->flex)
		return -EPERM;
	ret = hdiov_parse_decimal(buf, &n);
	if (ret)
		return ret;
	if (n < 1 || n > HDIOV_MAX_QPS_PER_VDEV)
		return -EINVAL;
	ret = hdiov_vdev_resize(v, n);
	return ret ? ret : count;
}
static DEVICE_ATTR_RW(queue_pairs);

static ssize_t weight_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct hdiov_vdev *v = dev_to_vdev(dev);

	return sysfs_emit(buf, "%u\n", READ_ONCE(v->weight));
}

static ssize_t weight_store(struct device *dev, struct device_attribute *attr,
			    const char *buf, size_t count)
{
	struct hdiov_vdev *v = dev_to_vdev(dev);
	unsigned int w;
	int ret;

	ret = hdiov_parse_decimal(buf, &w);
	if (ret)
		return ret;
	if (w < HDIOV_WEIGHT_MIN || w > HDIOV_WEIGHT_MAX)
		return -EINVAL;
	WRITE_ONCE(v->weight, w);
	return count;
}
static DEVICE_ATTR_RW(weight);

static ssize_t pasid_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%d\n", dev_to_vdev(dev)->pasid);
}
static DEVICE_ATTR_RO(pasid);

/* Pool indices as ranges: "0-3,17". */
static ssize_t qp_ids_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct hdiov_vdev *v = dev_to_vdev(dev);
	unsigned int i, first, last;
	int len = 0;

	mutex_lock(&v->lock);
	for (i = 0; i < v->nr_qps; i = last - first + i + 1) {
		first = v->qps[i].pool_index;
		last = first;
		while (i + last - first + 1 < v->nr_qps &&
		       v->qps[i + last - first + 1].pool_index == last + 1)
			last++;
		len += sysfs_emit_at(buf, len, "%s%u", i ? "," : "", first);
		if (last != first)
			len += sysfs_emit_at(buf, len, "-%u", last);
	}
	mutex_unlock(&v->lock);
	len += sysfs_emit_at(buf, len, "\n");
	return len;
}
static DEVICE_ATTR_RO(qp_ids);

static ssize_t stats_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct hdiov_stats *s = &dev_to_vdev(dev)->stats;

	return sysfs_emit(buf,
			  "submitted %lld\ncompleted %lld\nbytes %lld\nerrors %lld\nirqs %lld\nkicks %lld\n",
			  atomic64_read(&s->submitted),
			  atomic64_read(&s->completed),
			  atomic64_read(&s->bytes), atomic64_read(&s->errors),
			  atomic64_read(&s->irqs), atomic64_read(&s->kicks));
}
static DEVICE_ATTR_RO(stats);

static struct attribute *hdiov_vdev_attrs[] = {
	&dev_attr_queue_pairs.attr,
	&dev_attr_weight.attr,
	&dev_attr_pasid.attr,
	&dev_attr_qp_ids.attr,
	&dev_attr_stats.attr,
	NULL,
};

/* queue_pairs is writable only for a flex type. */
static umode_t hdiov_vdev_attr_visible(struct kobject *kobj,
				       struct attribute *attr, int n)
{
	struct hdiov_vdev *v = dev_to_vdev(kobj_to_dev(kobj));

	if (attr == &dev_attr_queue_pairs.attr && v && !v->type->flex)
		return 0444;
	return attr->mode;
}

static const struct attribute_group hdiov_vdev_group = {
	.name = KBUILD_MODNAME,
	.attrs = hdiov_vdev_attrs,
	.is_visible = hdiov_vdev_attr_visible,
};

static const struct attribute_group *hdiov_vdev_groups[] = {
	&hdiov_vdev_group,
	NULL,
};

/* mdev driver */

static int hdiov_mdev_probe(struct mdev_device *mdev)
{
	struct hdiov_vdev *v;
	int ret;

	v = vfio_alloc_device(hdiov_vdev, vdev, &mdev->dev, &hdiov_vfio_ops);
	if (IS_ERR(v))
		return PTR_ERR(v);
	dev_set_drvdata(&mdev->dev, v);
	ret = vfio_register_emulated_iommu_dev(&v->vdev);
	if (ret) {
		dev_set_drvdata(&mdev->dev, NULL);
		vfio_put_device(&v->vdev);
		return ret;
	}
	return 0;
}

static void hdiov_mdev_remove(struct mdev_device *mdev)
{
	struct hdiov_vdev *v = dev_get_drvdata(&mdev->dev);

	/* Waits for the user to close, signalling REQ meanwhile. */
	vfio_unregister_group_dev(&v->vdev);
	hdiov_vdev_put_resources(v);
	vfio_put_device(&v->vdev);
}

struct mdev_driver hdiov_mdev_driver = {
	.device_api = VFIO_DEVICE_API_PCI_STRING,
	.driver = {
		.name = KBUILD_MODNAME,
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
		.dev_groups = hdiov_vdev_groups,
	},
	.probe = hdiov_mdev_probe,
	.remove = hdiov_mdev_remove,
	.get_available = hdiov_get_available,
	.show_description = hdiov_show_description,
};
