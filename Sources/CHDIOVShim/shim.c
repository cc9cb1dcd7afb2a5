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
