#include "hdiov_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vfio.h>

static int fail(void)
{
	return -errno;
}

int hdiov_vfio_open_container(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return fail();
	if (ioctl(fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		close(fd);
		return -EPROTO;
	}
	return fd;
}

int hdiov_vfio_open_group(const char *path, int container)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	int fd = open(path, O_RDWR | O_CLOEXEC);
	int err;

	if (fd < 0)
		return fail();
	if (ioctl(fd, VFIO_GROUP_GET_STATUS, &status) < 0)
		goto err;
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		close(fd);
		return -EBUSY;
	}
	if (ioctl(fd, VFIO_GROUP_SET_CONTAINER, &container) < 0)
		goto err;
	return fd;
err:
	err = -errno;
	close(fd);
	return err;
}

int hdiov_vfio_set_iommu(int container)
{
	int type = VFIO_TYPE1v2_IOMMU;

	if (ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0)
		type = VFIO_TYPE1_IOMMU;
	return ioctl(container, VFIO_SET_IOMMU, type) < 0 ? fail() : 0;
}

int hdiov_vfio_open_device(int group, const char *name)
{
	int fd = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, name);

	return fd < 0 ? fail() : fd;
}

int hdiov_vfio_device_info(int device, uint32_t *flags, uint32_t *num_regions,
			   uint32_t *num_irqs)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	if (ioctl(device, VFIO_DEVICE_GET_INFO, &info) < 0)
		return fail();
	*flags = info.flags;
	*num_regions = info.num_regions;
	*num_irqs = info.num_irqs;
	return 0;
}

static void find_sparse(struct vfio_region_info *info, struct hdiov_region *out)
{
	struct vfio_info_cap_header *hdr;
	struct vfio_region_info_cap_sparse_mmap *sparse;
	uint32_t off = info->cap_offset;

	while (off && off + sizeof(*hdr) <= info->argsz) {
		hdr = (struct vfio_info_cap_header *)((char *)info + off);
		if (hdr->id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
			sparse = (struct vfio_region_info_cap_sparse_mmap *)hdr;
			out->nr_sparse_areas = sparse->nr_areas;
			if (sparse->nr_areas) {
				out->sparse_offset = sparse->areas[0].offset;
				out->sparse_size = sparse->areas[0].size;
			}
			return;
		}
		off = hdr->next;
	}
}

int hdiov_vfio_region_info(int device, uint32_t index, struct hdiov_region *out)
{
	struct vfio_region_info *info;
	uint32_t argsz = sizeof(*info);
	int ret = 0;

	memset(out, 0, sizeof(*out));
	for (;;) {
		info = calloc(1, argsz);
		if (!info)
			return -ENOMEM;
		info->argsz = argsz;
		info->index = index;
		if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, info) < 0) {
			ret = fail();
			break;
		}
		if (info->argsz <= argsz)
			break;
		argsz = info->argsz;	/* room for the capabilities */
		free(info);
	}
	if (!ret) {
		out->size = info->size;
		out->offset = info->offset;
		out->flags = info->flags;
		if (info->flags & VFIO_REGION_INFO_FLAG_CAPS)
			find_sparse(info, out);
	}
	free(info);
	return ret;
}

int hdiov_vfio_irq_info(int device, uint32_t index, uint32_t *flags,
			uint32_t *count)
{
	struct vfio_irq_info info = { .argsz = sizeof(info), .index = index };

	if (ioctl(device, VFIO_DEVICE_GET_IRQ_INFO, &info) < 0)
		return fail();
	*flags = info.flags;
	*count = info.count;
	return 0;
}

int hdiov_vfio_set_irq_eventfds(int device, uint32_t index, uint32_t start,
				uint32_t count, const int32_t *fds)
{
	size_t size = sizeof(struct vfio_irq_set) + count * sizeof(int32_t);
	struct vfio_irq_set *set = calloc(1, size);
	int ret = 0;

	if (!set)
		return -ENOMEM;
	set->argsz = size;
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = index;
	set->start = start;
	set->count = count;
	memcpy(set->data, fds, count * sizeof(int32_t));
	if (ioctl(device, VFIO_DEVICE_SET_IRQS, set) < 0)
		ret = fail();
	free(set);
	return ret;
}

int hdiov_vfio_disable_irq(int device, uint32_t index)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = index,
	};

	return ioctl(device, VFIO_DEVICE_SET_IRQS, &set) < 0 ? fail() : 0;
}

int hdiov_vfio_reset(int device)
{
	return ioctl(device, VFIO_DEVICE_RESET) < 0 ? fail() : 0;
}

int hdiov_vfio_dma_map(int container, void *vaddr, uint64_t iova,
		       uint64_t size)
{
	return hdiov_vfio_dma_map_prot(container, vaddr, iova, size, 1);
}

int hdiov_vfio_dma_map_prot(int container, void *vaddr, uint64_t iova,
			    uint64_t size, int writable)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ |
			 (writable ? VFIO_DMA_MAP_FLAG_WRITE : 0),
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	return ioctl(container, VFIO_IOMMU_MAP_DMA, &map) < 0 ? fail() : 0;
}

int hdiov_vfio_dma_unmap(int container, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = size,
	};

	return ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0 ? fail() : 0;
}

/* VFIO_DEVICE_FEATURE with @size bytes of payload after the header. */
static int hdiov_feature(int device, uint32_t flags, void *data, size_t size)
{
	uint64_t buf[(sizeof(struct vfio_device_feature) + 64) / 8] = { 0 };
	struct vfio_device_feature *f = (void *)buf;

	if (size > 64)
		return -EINVAL;
	f->argsz = sizeof(*f) + size;
	f->flags = flags;
	memcpy(f->data, data, size);
	if (ioctl(device, VFIO_DEVICE_FEATURE, f) < 0)
		return fail();
	memcpy(data, f->data, size);
	return 0;
}

int hdiov_vfio_mig_flags(int device, uint64_t *flags)
{
	struct vfio_device_feature_migration m = { 0 };
	int ret = hdiov_feature(device, VFIO_DEVICE_FEATURE_GET |
				VFIO_DEVICE_FEATURE_MIGRATION, &m, sizeof(m));

	*flags = m.flags;
	return ret;
}

int hdiov_vfio_mig_set_state(int device, uint32_t state, int *data_fd)
{
	struct vfio_device_feature_mig_state m = { .device_state = state };
	int ret = hdiov_feature(device, VFIO_DEVICE_FEATURE_SET |
				VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &m,
				sizeof(m));

	*data_fd = ret ? -1 : m.data_fd;
	return ret;
}

int hdiov_vfio_mig_get_state(int device, uint32_t *state)
{
	struct vfio_device_feature_mig_state m = { 0 };
	int ret = hdiov_feature(device, VFIO_DEVICE_FEATURE_GET |
				VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &m,
				sizeof(m));

	*state = m.device_state;
	return ret;
}

int hdiov_vfio_mig_data_size(int device, uint64_t *size)
{
	uint64_t length = 0;	/* struct vfio_device_feature_mig_data_size */
	int ret = hdiov_feature(device, VFIO_DEVICE_FEATURE_GET | 9, &length,
				sizeof(length));

	*size = length;
	return ret;
}

int hdiov_vfio_mig_precopy_info(int data_fd, uint64_t *initial, uint64_t *dirty)
{
	struct {
		uint32_t argsz;
		uint32_t flags;
		uint64_t initial_bytes;
		uint64_t dirty_bytes;
	} info = { .argsz = sizeof(info) };

	/* VFIO_MIG_GET_PRECOPY_INFO */
	if (ioctl(data_fd, _IO(VFIO_TYPE, VFIO_BASE + 21), &info) < 0)
		return fail();
	*initial = info.initial_bytes;
	*dirty = info.dirty_bytes;
	return 0;
}

static int hdiov_dirty(int container, uint32_t flags)
{
	struct vfio_iommu_type1_dirty_bitmap d = {
		.argsz = sizeof(d),
		.flags = flags,
	};

	return ioctl(container, VFIO_IOMMU_DIRTY_PAGES, &d) < 0 ? fail() : 0;
}

int hdiov_vfio_dirty_start(int container)
{
	return hdiov_dirty(container, VFIO_IOMMU_DIRTY_PAGES_FLAG_START);
}

int hdiov_vfio_dirty_stop(int container)
{
	return hdiov_dirty(container, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP);
}

int hdiov_vfio_dirty_bitmap(int container, uint64_t iova, uint64_t size,
			    uint64_t pgsize, uint64_t *bitmap,
			    uint64_t bitmap_bytes)
{
	uint64_t buf[(sizeof(struct vfio_iommu_type1_dirty_bitmap) +
		      sizeof(struct vfio_iommu_type1_dirty_bitmap_get)) / 8 + 1] = { 0 };
	struct vfio_iommu_type1_dirty_bitmap *d = (void *)buf;
	struct vfio_iommu_type1_dirty_bitmap_get *r = (void *)d->data;

	d->argsz = sizeof(*d) + sizeof(*r);
	d->flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
	r->iova = iova;
	r->size = size;
	r->bitmap.pgsize = pgsize;
	r->bitmap.size = bitmap_bytes;
	r->bitmap.data = (void *)bitmap;
	return ioctl(container, VFIO_IOMMU_DIRTY_PAGES, d) < 0 ? fail() : 0;
}

int hdiov_vfio_raw_ioctl(int fd, unsigned long request, void *arg)
{
	int ret = ioctl(fd, request, arg);

	return ret < 0 ? fail() : ret;
}

int hdiov_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	return fd < 0 ? fail() : fd;
}

int hdiov_eventfd_read(int fd, uint64_t *value)
{
	return read(fd, value, sizeof(*value)) == sizeof(*value) ? 0 : fail();
}
