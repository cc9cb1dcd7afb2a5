// SPDX-License-Identifier: GPL-2.0
/*
 * HD-IOV guest memory: pinning, mapping and unpinning (contract section 8).
 *
 * The engine threads are shared by every VDEV, so they never touch a
 * tenant's memory through its page tables, where a fault can sleep for as
 * long as the tenant likes (userfaultfd, FUSE): they only touch pages that
 * are pinned (vfio_pin_pages()) and reach them through the kernel mapping.
 * Pinning and unpinning happen in the VDEV's own worker (an unbound work
 * item: a stalled one stalls only its VDEV) or in its user's own syscalls
 * (close, VFIO_IOMMU_UNMAP_DMA), never with hdiov_vdev.lock held, since
 * vfio_pin_pages() faults pages in under the container's lock.
 *
 * - Rings: when a QP is enabled the worker pins its SQ (read) and CQ
 *   (read/write) and vmap()s them; the engine runs the QP once both are
 *   mapped. Disable, reset and close drop them (the worker, or close,
 *   unpins).
 * - Data: the engine looks each descriptor's pages up in the VDEV's pin
 *   cache (an xarray of IOVA page -> page). A page that is missing stops the
 *   QP at that descriptor and asks the worker to pin the descriptor's pages;
 *   the engine goes on with other work and comes back when the worker kicks
 *   it. Pages that cannot be pinned (unmapped, or read-only for a
 *   destination) complete the descriptor with DMA_FAULT before any byte is
 *   written. The cache holds at most HDIOV_PIN_PAGES pages; beyond that the
 *   worker unpins everything the descriptor does not need.
 * - VFIO_IOMMU_UNMAP_DMA calls hdiov_vdev_dma_unmap(): it waits until the
 *   engine is not executing for the VDEV, drops the pins and rings in the
 *   range (a ring's QP stops with an error), and unpins them.
 * Pages are only dropped while the engine is held off the VDEV
 * (hdiov_engine_hold()), so it never uses a page after it is unpinned.
 */
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "hdiov.h"

/* Data pages a VDEV keeps pinned (16 MiB with 4 KiB pages). */
#define HDIOV_PIN_PAGES		4096

static struct workqueue_struct *hdiov_pin_wq;

static void *hdiov_pin_entry(struct page *page, bool write)
{
	return xa_mk_value(page_to_pfn(page) << 1 | write);
}

/*
 * The pinned pages of @len bytes at @iova, writable when @write, into
 * @pages. False when one is missing. Engine only, with the VDEV busy.
 */
bool hdiov_pins_get(struct hdiov_vdev *v, u64 iova, u32 len, bool write,
		    struct page **pages)
{
	u64 pfn = iova >> PAGE_SHIFT, last = (iova + len - 1) >> PAGE_SHIFT;
	unsigned long val;
	void *e;

	for (; pfn <= last; pfn++) {
		e = xa_load(&v->pins, pfn);
		if (!e)
			return false;
		val = xa_to_value(e);
		if (write && !(val & 1))
			return false;
		*pages++ = pfn_to_page(val >> 1);
	}
	return true;
}

/* Unpin @npages pages from @iova, in calls VFIO takes (at most 512 pages). */
static void hdiov_unpin_run(struct hdiov_vdev *v, u64 iova, unsigned int npages)
{
	unsigned int n;

	for (; npages; npages -= n, iova += (u64)n << PAGE_SHIFT) {
		n = min_t(unsigned int, npages, VFIO_PIN_PAGES_MAX_ENTRIES);
		vfio_unpin_pages(&v->vdev, iova, n);
	}
}

static void hdiov_ring_free(struct hdiov_vdev *v, struct hdiov_ring *r)
{
	if (r->vaddr)
		vunmap(r->vaddr);
	hdiov_unpin_run(v, r->iova, r->npages);
	kfree(r);
}

/* Pin and map @size bytes at @iova; ERR_PTR on failure. No vdev.lock. */
static struct hdiov_ring *hdiov_ring_map(struct hdiov_vdev *v, u64 iova,
					 size_t size, int prot)
{
	u64 first = iova & PAGE_MASK;
	unsigned int npages = DIV_ROUND_UP(iova + size - first, PAGE_SIZE);
	unsigned int done, n;
	struct hdiov_ring *r;
	int ret;

	if (iova + size < iova)
		return ERR_PTR(-EFAULT);
	r = kzalloc(struct_size(r, pages, npages), GFP_KERNEL);
	if (!r)
		return ERR_PTR(-ENOMEM);
	/* A ring of MAX_RING entries may be more pages than one call pins. */
	for (done = 0; done < npages; done += ret) {
		n = min_t(unsigned int, npages - done, VFIO_PIN_PAGES_MAX_ENTRIES);
		ret = vfio_pin_pages(&v->vdev, first + ((u64)done << PAGE_SHIFT),
				     n, prot, r->pages + done);
		if (ret != n) {
			if (ret > 0)
				done += ret;
			hdiov_unpin_run(v, first, done);
			kfree(r);
			return ERR_PTR(ret < 0 ? ret : -EFAULT);
		}
	}
	r->iova = first;
	r->npages = npages;
	r->vaddr = vmap(r->pages, npages, VM_MAP, PAGE_KERNEL);
	if (!r->vaddr) {
		hdiov_ring_free(v, r);
		return ERR_PTR(-ENOMEM);
	}
	r->base = r->vaddr + (iova - first);
	return r;
}

/* Queue @r to be unpinned by the worker. vdev.lock held. */
static void hdiov_ring_put(struct hdiov_vdev *v, struct hdiov_ring *r)
{
	lockdep_assert_held(&v->lock);
	if (!r)
		return;
	list_add_tail(&r->node, &v->unpin);
	queue_work(hdiov_pin_wq, &v->pin_work);
}

/*
 * QP @i was enabled: have the worker pin and map its rings. vdev.lock held.
 */
void hdiov_rings_request(struct hdiov_vdev *v, unsigned int i)
{
	lockdep_assert_held(&v->lock);
	v->qps[i].ring_gen++;
	v->pin_rings = true;
	queue_work(hdiov_pin_wq, &v->pin_work);
}

/*
 * QP @i was disabled or reset, with the engine stopped for it: drop its
 * rings (the worker unpins them). vdev.lock held.
 */
void hdiov_rings_drop(struct hdiov_vdev *v, unsigned int i)
{
	struct hdiov_qp *qp = &v->qps[i];

	lockdep_assert_held(&v->lock);
	if (v->pin_req.nr && v->pin_req.qp == i)
		hdiov_pin_done(v);
	qp->pin_wait = false;
	qp->cq_full = false;
	qp->ring_gen++;
	hdiov_ring_put(v, qp->sq);
	hdiov_ring_put(v, qp->cq);
	qp->sq = NULL;
	qp->cq = NULL;
}

/*
 * The engine stopped QP @i at the descriptor at SQ index @pos, whose pages
 * @req names, because one was not pinned: have the worker pin them.
 * vdev.lock held.
 */
void hdiov_pin_request(struct hdiov_vdev *v, unsigned int i, u32 pos,
		       const struct hdiov_pin_req *req)
{
	u32 seq = v->pin_req.seq;

	lockdep_assert_held(&v->lock);
	v->qps[i].pin_wait = true;
	if (v->pin_req.nr)
		return;		/* one at a time; hdiov_pin_done() wakes the QP */
	v->pin_req = *req;
	v->pin_req.qp = i;
	v->pin_req.pos = pos;
	v->pin_req.seq = seq + 1;
	v->pin_req.done = false;
	v->pin_req.result = 0;
	queue_work(hdiov_pin_wq, &v->pin_work);
}

/*
 * The request is answered (or its QP went away): free the slot and let
 * every QP that waited for it try again. vdev.lock held.
 */
void hdiov_pin_done(struct hdiov_vdev *v)
{
	unsigned int i;

	lockdep_assert_held(&v->lock);
	v->pin_req.nr = 0;
	for (i = 0; i < v->nr_qps; i++) {
		if (v->qps[i].pin_wait) {
			v->qps[i].pin_wait = false;
			hdiov_engine_kick(v, i);
		}
	}
}

/* Unpin every cached data page. vdev.lock held; the engine held off. */
static unsigned int hdiov_pins_take_all(struct hdiov_vdev *v,
					unsigned long **pfns)
{
	unsigned long index, n = 0;
	unsigned long *list;
	void *e;

	lockdep_assert_held(&v->lock);
	list = kvmalloc_array(max(v->nr_pins, 1U), sizeof(*list), GFP_KERNEL);
	if (!list)
		return 0;
	xa_for_each(&v->pins, index, e) {
		if (n == v->nr_pins)
			break;
		list[n++] = index;
		xa_erase(&v->pins, index);
	}
	v->nr_pins -= n;
	*pfns = list;
	return n;
}

static void hdiov_unpin_pfns(struct hdiov_vdev *v, unsigned long *pfns,
			     unsigned int n)
{
	unsigned int k;

	for (k = 0; k < n; k++)
		vfio_unpin_pages(&v->vdev, (u64)pfns[k] << PAGE_SHIFT, 1);
	kvfree(pfns);
}

/* Pin the pages of one range that the cache lacks. No vdev.lock. */
static int hdiov_pin_range(struct hdiov_vdev *v, u64 iova, u32 len,
			   bool write)
{
	u64 pfn = iova >> PAGE_SHIFT, last = (iova + len - 1) >> PAGE_SHIFT;
	int prot = IOMMU_READ | (write ? IOMMU_WRITE : 0);
	struct page *page;
	void *e, *old;
	int ret;

	if (!len || iova + len - 1 < iova)
		return -EFAULT;
	for (; pfn <= last; pfn++) {
		e = xa_load(&v->pins, pfn);
		if (e && (!write || (xa_to_value(e) & 1)))
			continue;
		ret = vfio_pin_pages(&v->vdev, pfn << PAGE_SHIFT, 1, prot,
				     &page);
		if (ret != 1)
			return ret < 0 ? ret : -EFAULT;
		mutex_lock(&v->lock);
		old = xa_store(&v->pins, pfn, hdiov_pin_entry(page, write),
			       GFP_KERNEL);
		if (xa_is_err(old)) {
			mutex_unlock(&v->lock);
			vfio_unpin_pages(&v->vdev, pfn << PAGE_SHIFT, 1);
			return xa_err(old);
		}
		if (!old)
			v->nr_pins++;
		mutex_unlock(&v->lock);
		/* A read-only pin replaced by a writable one: drop the old. */
		if (old)
			vfio_unpin_pages(&v->vdev, pfn << PAGE_SHIFT, 1);
	}
	return 0;
}

static unsigned int hdiov_req_pages(const struct hdiov_pin_req *req)
{
	unsigned int k, n = 0;

	for (k = 0; k < req->nr; k++)
		n += DIV_ROUND_UP((req->iova[k] & ~PAGE_MASK) + req->len[k],
				  PAGE_SIZE);
	return n;
}

/* Pin and map the rings of every enabled QP that lacks them. */
static void hdiov_pin_rings(struct hdiov_vdev *v)
{
	struct hdiov_ring *sq, *cq;
	u64 sq_base, cq_base;
	unsigned int i;
	u32 gen, size;

	mutex_lock(&v->lock);
	v->pin_rings = false;
	for (i = 0; i < v->nr_qps; i++) {
		struct hdiov_qp *qp = &v->qps[i];

		if (!(qp->ctrl & HDIOV_QP_CTRL_ENABLE) || qp->sq ||
		    !qp->ring_size || (qp->status & HDIOV_QP_STATUS_ERROR))
			continue;
		gen = qp->ring_gen;
		sq_base = qp->sq_base;
		cq_base = qp->cq_base;
		size = qp->ring_size;
		mutex_unlock(&v->lock);

		sq = hdiov_ring_map(v, sq_base, (size_t)size * HDIOV_SQE_SIZE,
				    IOMMU_READ);
		cq = IS_ERR(sq) ? NULL :
		     hdiov_ring_map(v, cq_base, (size_t)size * HDIOV_CQE_SIZE,
				    IOMMU_READ | IOMMU_WRITE);

		mutex_lock(&v->lock);
		if (i >= v->nr_qps || qp->ring_gen != gen || qp->sq) {
			/* Disabled, reset or resized meanwhile. */
			if (!IS_ERR(sq))
				hdiov_ring_put(v, sq);
			if (!IS_ERR_OR_NULL(cq))
				hdiov_ring_put(v, cq);
			continue;
		}
		if (IS_ERR(sq) || IS_ERR(cq)) {
			qp->status |= HDIOV_QP_STATUS_ERROR |
				(IS_ERR(sq) ? HDIOV_QP_ERR_SQ_FAULT :
				 HDIOV_QP_ERR_CQ_FAULT) <<
				HDIOV_QP_STATUS_CODE_SHIFT;
			if (!IS_ERR(sq))
				hdiov_ring_put(v, sq);
			continue;
		}
		qp->sq = sq;
		qp->cq = cq;
		hdiov_engine_kick(v, i);
	}
	mutex_unlock(&v->lock);
}

/* Serve the engine's request: pin one descriptor's pages. */
static void hdiov_pin_data(struct hdiov_vdev *v)
{
	struct hdiov_pin_req req;
	unsigned long *pfns = NULL;
	unsigned int n = 0, k;
	int ret = 0;

	mutex_lock(&v->lock);
	req = v->pin_req;
	if (!req.nr || req.done) {
		mutex_unlock(&v->lock);
		return;
	}
	if (v->nr_pins + hdiov_req_pages(&req) > HDIOV_PIN_PAGES) {
		hdiov_engine_hold(v);
		n = hdiov_pins_take_all(v, &pfns);
		hdiov_engine_unhold(v);
	}
	mutex_unlock(&v->lock);
	if (n)
		hdiov_unpin_pfns(v, pfns, n);
	else
		kvfree(pfns);

	for (k = 0; k < req.nr && !ret; k++)
		ret = hdiov_pin_range(v, req.iova[k], req.len[k], req.write[k]);

	mutex_lock(&v->lock);
	if (v->pin_req.nr && v->pin_req.seq == req.seq) {
		v->pin_req.done = true;
		v->pin_req.result = ret;
		v->qps[req.qp].pin_wait = false;
		hdiov_engine_kick(v, req.qp);
	}
	mutex_unlock(&v->lock);
}

static void hdiov_pin_work(struct work_struct *work)
{
	struct hdiov_vdev *v = container_of(work, struct hdiov_vdev, pin_work);
	struct hdiov_ring *r, *tmp;
	LIST_HEAD(unpin);

	mutex_lock(&v->lock);
	list_splice_init(&v->unpin, &unpin);
	mutex_unlock(&v->lock);
	list_for_each_entry_safe(r, tmp, &unpin, node)
		hdiov_ring_free(v, r);

	if (READ_ONCE(v->pin_rings))
		hdiov_pin_rings(v);
	hdiov_pin_data(v);
}

/* A VDEV is created: empty pin state. */
void hdiov_pins_setup(struct hdiov_vdev *v)
{
	xa_init(&v->pins);
	INIT_WORK(&v->pin_work, hdiov_pin_work);
	INIT_LIST_HEAD(&v->unpin);
}

/*
 * The VDEV closes, out of its engine: unpin everything. In the closing
 * thread, without vdev.lock; waits for the worker, which can only be slow
 * on this VDEV's own memory.
 */
void hdiov_pins_release(struct hdiov_vdev *v)
{
	struct hdiov_ring *r, *tmp;
	unsigned long *pfns = NULL;
	unsigned int i, n;
	LIST_HEAD(unpin);

	cancel_work_sync(&v->pin_work);
	mutex_lock(&v->lock);
	for (i = 0; i < v->nr_qps; i++)
		hdiov_rings_drop(v, i);
	list_splice_init(&v->unpin, &unpin);
	n = hdiov_pins_take_all(v, &pfns);
	memset(&v->pin_req, 0, sizeof(v->pin_req));
	v->pin_rings = false;
	mutex_unlock(&v->lock);
	/* hdiov_rings_drop() queued the worker again: nothing left for it. */
	cancel_work_sync(&v->pin_work);
	list_for_each_entry_safe(r, tmp, &unpin, node)
		hdiov_ring_free(v, r);
	hdiov_unpin_pfns(v, pfns, n);
}

static bool hdiov_ring_in(const struct hdiov_ring *r, u64 iova, u64 end)
{
	return r && r->iova <= end &&
	       iova <= r->iova + ((u64)r->npages << PAGE_SHIFT) - 1;
}

/*
 * VFIO_IOMMU_UNMAP_DMA of [@iova, @iova + @length): drop and unpin what the
 * VDEV has pinned there. In the unmapping thread; the container's lock is
 * not held (vfio_unpin_pages() takes it).
 */
void hdiov_vdev_dma_unmap(struct vfio_device *vdev, u64 iova, u64 length)
{
	struct hdiov_vdev *v = to_hdiov_vdev(vdev);
	u64 end = iova + length - 1;
	unsigned long *pfns, n = 0, index;
	struct hdiov_ring *r, *tmp;
	unsigned int i;
	LIST_HEAD(unpin);
	void *e;

	if (!length || end < iova)
		return;
	/*
	 * VFIO retries the unmap while anything in the range stays pinned (and
	 * BUGs after ten tries): finish what the worker is doing, and unpin
	 * everything here, including rings waiting for the worker.
	 */
	flush_work(&v->pin_work);
	mutex_lock(&v->lock);
	hdiov_engine_hold(v);
	list_splice_init(&v->unpin, &unpin);
	/* A descriptor waiting for pages in the range faults, not re-pins. */
	for (i = 0; i < v->pin_req.nr; i++) {
		if (v->pin_req.iova[i] <= end &&
		    iova <= v->pin_req.iova[i] + v->pin_req.len[i] - 1) {
			v->pin_req.done = true;
			v->pin_req.result = -EFAULT;
		}
	}
	for (i = 0; i < v->nr_qps; i++) {
		struct hdiov_qp *qp = &v->qps[i];
		bool sq = hdiov_ring_in(qp->sq, iova, end);
		bool cq = hdiov_ring_in(qp->cq, iova, end);

		if (!sq && !cq)
			continue;
		qp->status |= HDIOV_QP_STATUS_ERROR |
			(sq ? HDIOV_QP_ERR_SQ_FAULT : HDIOV_QP_ERR_CQ_FAULT) <<
			HDIOV_QP_STATUS_CODE_SHIFT;
		qp->ring_gen++;
		list_add_tail(&qp->sq->node, &unpin);
		list_add_tail(&qp->cq->node, &unpin);
		qp->sq = NULL;
		qp->cq = NULL;
	}
	pfns = kvmalloc_array(max(v->nr_pins, 1U), sizeof(*pfns), GFP_KERNEL);
	if (pfns) {
		xa_for_each_range(&v->pins, index, e, iova >> PAGE_SHIFT,
				  end >> PAGE_SHIFT) {
			if (n == v->nr_pins)
				break;
			pfns[n++] = index;
			xa_erase(&v->pins, index);
		}
		v->nr_pins -= n;
	}
	hdiov_engine_unhold(v);
	mutex_unlock(&v->lock);
	list_for_each_entry_safe(r, tmp, &unpin, node)
		hdiov_ring_free(v, r);
	if (pfns)
		hdiov_unpin_pfns(v, pfns, n);
}

int hdiov_pin_init(void)
{
	hdiov_pin_wq = alloc_workqueue("%s_pin", WQ_UNBOUND, WQ_MAX_ACTIVE,
				       KBUILD_MODNAME);
	return hdiov_pin_wq ? 0 : -ENOMEM;
}

void hdiov_pin_exit(void)
{
	destroy_workqueue(hdiov_pin_wq);
}
