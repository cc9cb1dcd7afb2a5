// SPDX-License-Identifier: GPL-2.0
/*
 * HD-IOV parents ("physical functions"): the device class, the parent
 * devices with their queue-pair pools and PASID spaces, and their sysfs
 * attributes (contract section 1).
 */
#include <linux/bitmap.h>
#include <linux/idr.h>
#include <linux/slab.h>
#include <linux/sysfs.h>

#include "hdiov.h"

static struct hdiov_parent **hdiov_parents;
static unsigned int hdiov_nr_registered;

static struct hdiov_parent *dev_to_parent(struct device *dev)
{
	return container_of(dev, struct hdiov_parent, dev);
}

static ssize_t qp_total_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%u\n", HDIOV_POOL_QPS);
}
static DEVICE_ATTR_RO(qp_total);

static ssize_t qp_free_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	struct hdiov_parent *p = dev_to_parent(dev);
	unsigned int n;

	mutex_lock(&p->lock);
	n = p->qp_free;
	mutex_unlock(&p->lock);
	return sysfs_emit(buf, "%u\n", n);
}
static DEVICE_ATTR_RO(qp_free);

static ssize_t vdev_count_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct hdiov_parent *p = dev_to_parent(dev);
	unsigned int n;

	mutex_lock(&p->lock);
	n = p->vdev_count;
	mutex_unlock(&p->lock);
	return sysfs_emit(buf, "%u\n", n);
}
static DEVICE_ATTR_RO(vdev_count);

static ssize_t vdev_max_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%u\n", HDIOV_MAX_VDEVS);
}
static DEVICE_ATTR_RO(vdev_max);

static ssize_t version_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%u.%u\n", HDIOV_VERSION_VALUE >> 16,
			  HDIOV_VERSION_VALUE & 0xffff);
}
static DEVICE_ATTR_RO(version);

static struct attribute *hdiov_parent_attrs[] = {
	&dev_attr_qp_total.attr,
	&dev_attr_qp_free.attr,
	&dev_attr_vdev_count.attr,
	&dev_attr_vdev_max.attr,
	&dev_attr_version.attr,
	NULL,
};
ATTRIBUTE_GROUPS(hdiov_parent);

static struct class hdiov_class = {
	.name = KBUILD_MODNAME,
#ifndef HDIOV_HAVE_CLASS_NO_OWNER
	.owner = THIS_MODULE,
#endif
	.dev_groups = hdiov_parent_groups,
};

/*
 * Take @n free queue pairs from the pool, lowest indices first. Fails with
 * -ENOSPC, taking nothing, when the pool has fewer than @n left.
 */
int hdiov_pool_alloc(struct hdiov_parent *p, u32 *ids, unsigned int n)
{
	unsigned int i, bit = 0;

	mutex_lock(&p->lock);
	if (n > p->qp_free) {
		mutex_unlock(&p->lock);
		return -ENOSPC;
	}
	for (i = 0; i < n; i++) {
		bit = find_next_zero_bit(p->qp_map, HDIOV_POOL_QPS, bit);
		__set_bit(bit, p->qp_map);
		ids[i] = bit;
	}
	p->qp_free -= n;
	mutex_unlock(&p->lock);
	return 0;
}

void hdiov_pool_free(struct hdiov_parent *p, const u32 *ids, unsigned int n)
{
	unsigned int i;

	mutex_lock(&p->lock);
	for (i = 0; i < n; i++) {
		if (!WARN_ON_ONCE(!test_bit(ids[i], p->qp_map)))
			__clear_bit(ids[i], p->qp_map);
	}
	p->qp_free += n;
	mutex_unlock(&p->lock);
}

/* A PASID for a new VDEV, and a place under the VDEV limit. */
int hdiov_pasid_alloc(struct hdiov_parent *p)
{
	int pasid;

	mutex_lock(&p->lock);
	if (p->vdev_count >= HDIOV_MAX_VDEVS) {
		mutex_unlock(&p->lock);
		return -ENOSPC;
	}
	pasid = ida_alloc_range(&p->pasids, HDIOV_PASID_MIN, HDIOV_PASID_MAX,
				GFP_KERNEL);
	if (pasid >= 0)
		p->vdev_count++;
	mutex_unlock(&p->lock);
	return pasid == -ENOSPC ? -ENOSPC : pasid;
}

void hdiov_pasid_free(struct hdiov_parent *p, int pasid)
{
	mutex_lock(&p->lock);
	ida_free(&p->pasids, pasid);
	p->vdev_count--;
	mutex_unlock(&p->lock);
}

unsigned int hdiov_get_available(struct mdev_type *mtype)
{
	struct hdiov_parent *p = to_hdiov_parent(mtype);
	const struct hdiov_type_desc *t = &hdiov_type_descs[mtype - p->types];
	unsigned int per = t->flex ? 1 : t->qps;
	unsigned int n;

	mutex_lock(&p->lock);
	n = min(p->qp_free / per, HDIOV_MAX_VDEVS - p->vdev_count);
	mutex_unlock(&p->lock);
	return n;
}

ssize_t hdiov_show_description(struct mdev_type *mtype, char *buf)
{
	struct hdiov_parent *p = to_hdiov_parent(mtype);

	return sysfs_emit(buf, "%s\n",
			  hdiov_type_descs[mtype - p->types].description);
}

static void hdiov_parent_release(struct device *dev)
{
	struct hdiov_parent *p = dev_to_parent(dev);

	ida_destroy(&p->pasids);
	bitmap_free(p->qp_map);
	kfree(p);
}

static struct hdiov_parent *hdiov_parent_create(unsigned int index)
{
	struct hdiov_parent *p;
	unsigned int i;
	int ret;

	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return ERR_PTR(-ENOMEM);
	p->qp_map = bitmap_zalloc(HDIOV_POOL_QPS, GFP_KERNEL);
	if (!p->qp_map) {
		kfree(p);
		return ERR_PTR(-ENOMEM);
	}
	p->index = index;
	p->qp_free = HDIOV_POOL_QPS;
	mutex_init(&p->lock);
	ida_init(&p->pasids);
	for (i = 0; i < HDIOV_NR_TYPES; i++) {
		p->types[i].sysfs_name = hdiov_type_descs[i].id;
		p->types[i].pretty_name = hdiov_type_descs[i].name;
		p->type_ptrs[i] = &p->types[i];
	}

	/* From here on the device's release frees everything. */
	device_initialize(&p->dev);
	p->dev.class = &hdiov_class;
	p->dev.release = hdiov_parent_release;
	ret = dev_set_name(&p->dev, "%s%u", KBUILD_MODNAME, index);
	if (ret)
		goto err_put;
	ret = device_add(&p->dev);
	if (ret)
		goto err_put;
	ret = mdev_register_parent(&p->mdev_parent, &p->dev, &hdiov_mdev_driver,
				   p->type_ptrs, HDIOV_NR_TYPES);
	if (ret)
		goto err_del;
	return p;

err_del:
	device_del(&p->dev);
err_put:
	put_device(&p->dev);
	return ERR_PTR(ret);
}

static void hdiov_parent_destroy(struct hdiov_parent *p)
{
	/* Removes every VDEV of this parent, waiting for open ones to close. */
	mdev_unregister_parent(&p->mdev_parent);
	device_unregister(&p->dev);
}

void hdiov_parents_destroy(void)
{
	while (hdiov_nr_registered)
		hdiov_parent_destroy(hdiov_parents[--hdiov_nr_registered]);
	kfree(hdiov_parents);
	hdiov_parents = NULL;
	class_unregister(&hdiov_class);
}

int hdiov_parents_create(void)
{
	struct hdiov_parent *p;
	int ret;

	ret = class_register(&hdiov_class);
	if (ret)
		return ret;
	hdiov_parents = kcalloc(HDIOV_NR_PARENTS, sizeof(*hdiov_parents),
				GFP_KERNEL);
	if (!hdiov_parents) {
		class_unregister(&hdiov_class);
		return -ENOMEM;
	}
	while (hdiov_nr_registered < HDIOV_NR_PARENTS) {
		p = hdiov_parent_create(hdiov_nr_registered);
		if (IS_ERR(p)) {
			hdiov_parents_destroy();
			return PTR_ERR(p);
		}
		hdiov_parents[hdiov_nr_registered++] = p;
	}
	return 0;
}
