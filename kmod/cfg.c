// SPDX-License-Identifier: GPL-2.0
/*
 * HD-IOV PCI configuration space emulation (contract section 4).
 *
 * 256 bytes of type-0 header with one capability, MSI-X. Every byte has a
 * write mask; after a write the BAR dwords are masked to their size, so that
 * the usual sizing sequence (write all ones, read back) behaves as on
 * hardware. Called with hdiov_vdev.lock held, except hdiov_cfg_init() from
 * hdiov_vdev_init(), before the VDEV is registered.
 */
#include <linux/pci_regs.h>
#include <linux/string.h>

#include "hdiov.h"

#define HDIOV_CAP_MSIX		0x40
#define HDIOV_BAR0_FLAGS	(PCI_BASE_ADDRESS_SPACE_MEMORY | \
				 PCI_BASE_ADDRESS_MEM_TYPE_64)
#define HDIOV_BAR2_FLAGS	(PCI_BASE_ADDRESS_SPACE_MEMORY | \
				 PCI_BASE_ADDRESS_MEM_TYPE_64 | \
				 PCI_BASE_ADDRESS_MEM_PREFETCH)

/* Writable bits of each config byte; everything else is read-only. */
static const u8 hdiov_cfg_wmask[HDIOV_CFG_SIZE] = {
	/* command: I/O, memory, bus master, INTx disable */
	[PCI_COMMAND] = PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
			PCI_COMMAND_MASTER,
	[PCI_COMMAND + 1] = PCI_COMMAND_INTX_DISABLE >> 8,
	[PCI_CACHE_LINE_SIZE] = 0xff,
	[PCI_LATENCY_TIMER] = 0xff,
	/* BAR0 and BAR2, both 64-bit; the size mask is applied afterwards */
	[PCI_BASE_ADDRESS_0] = 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	[PCI_BASE_ADDRESS_2] = 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	[PCI_INTERRUPT_LINE] = 0xff,
	/* MSI-X message control: function mask and enable */
	[HDIOV_CAP_MSIX + PCI_MSIX_FLAGS + 1] = (PCI_MSIX_FLAGS_ENABLE |
						 PCI_MSIX_FLAGS_MASKALL) >> 8,
};

static void put_le16(u8 *p, u16 v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void put_le32(u8 *p, u32 v)
{
	put_le16(p, v & 0xffff);
	put_le16(p + 2, v >> 16);
}

static u32 get_le32(const u8 *p)
{
	return p[0] | (p[1] << 8) | (p[2] << 16) | ((u32)p[3] << 24);
}

/* Keep a 64-bit memory BAR at @off aligned to @size with its flag bits. */
static void hdiov_cfg_mask_bar(struct hdiov_vdev *v, unsigned int off,
			       u64 size, u32 flags)
{
	u64 bar = get_le32(&v->cfg[off]) |
		  ((u64)get_le32(&v->cfg[off + 4]) << 32);

	bar = (bar & ~(size - 1)) | flags;
	put_le32(&v->cfg[off], lower_32_bits(bar));
	put_le32(&v->cfg[off + 4], upper_32_bits(bar));
}

static void hdiov_cfg_mask_bars(struct hdiov_vdev *v)
{
	hdiov_cfg_mask_bar(v, PCI_BASE_ADDRESS_0, HDIOV_BAR0_SIZE,
			   HDIOV_BAR0_FLAGS);
	hdiov_cfg_mask_bar(v, PCI_BASE_ADDRESS_2, hdiov_bar2_size(v->nr_qps),
			   HDIOV_BAR2_FLAGS);
}

/* No lockdep_assert_held(): hdiov_vdev_init() calls this unlocked, open locked. */
void hdiov_cfg_init(struct hdiov_vdev *v)
{
	u8 *c = v->cfg;

	memset(c, 0, HDIOV_CFG_SIZE);
	put_le16(&c[PCI_VENDOR_ID], HDIOV_PCI_VENDOR);
	put_le16(&c[PCI_DEVICE_ID], HDIOV_PCI_DEVICE);
	put_le16(&c[PCI_STATUS], PCI_STATUS_CAP_LIST);
	c[PCI_REVISION_ID] = HDIOV_PCI_REVISION;
	c[PCI_CLASS_PROG] = HDIOV_PCI_CLASS & 0xff;
	put_le16(&c[PCI_CLASS_DEVICE], HDIOV_PCI_CLASS >> 8);
	c[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	put_le16(&c[PCI_SUBSYSTEM_VENDOR_ID], HDIOV_PCI_SUBSYS_VENDOR);
	put_le16(&c[PCI_SUBSYSTEM_ID], HDIOV_PCI_SUBSYS_DEVICE);
	c[PCI_CAPABILITY_LIST] = HDIOV_CAP_MSIX;
	c[PCI_INTERRUPT_PIN] = 1;

	c[HDIOV_CAP_MSIX + PCI_CAP_LIST_ID] = PCI_CAP_ID_MSIX;
	c[HDIOV_CAP_MSIX + PCI_CAP_LIST_NEXT] = 0;
	put_le32(&c[HDIOV_CAP_MSIX + PCI_MSIX_TABLE], HDIOV_MSIX_TABLE);
	put_le32(&c[HDIOV_CAP_MSIX + PCI_MSIX_PBA], HDIOV_MSIX_PBA);
	hdiov_cfg_update_qps(v);
}

/*
 * Reflect the VDEV's QP count: MSI-X table size and BAR2 size. No
 * lockdep_assert_held(): hdiov_cfg_init() calls this without the lock.
 */
void hdiov_cfg_update_qps(struct hdiov_vdev *v)
{
	u8 *flags = &v->cfg[HDIOV_CAP_MSIX + PCI_MSIX_FLAGS];
	u16 ctrl = flags[0] | (flags[1] << 8);

	ctrl = (ctrl & ~PCI_MSIX_FLAGS_QSIZE) | (hdiov_nr_vectors(v) - 1);
	put_le16(flags, ctrl);
	hdiov_cfg_mask_bars(v);
}

/* The MSI-X function mask (Message Control bit 14). vdev.lock held. */
bool hdiov_cfg_msix_masked(struct hdiov_vdev *v)
{
	lockdep_assert_held(&v->lock);
	return v->cfg[HDIOV_CAP_MSIX + PCI_MSIX_FLAGS + 1] &
	       (PCI_MSIX_FLAGS_MASKALL >> 8);
}

void hdiov_cfg_read(struct hdiov_vdev *v, unsigned int off, u8 *buf,
		    unsigned int len)
{
	lockdep_assert_held(&v->lock);
	memcpy(buf, &v->cfg[off], len);
}

/*
 * Clearing Bus Master stops the engine's DMA for the whole VDEV before the
 * write returns (contract section 8); hdiov_engine_stop() drops and retakes
 * the lock while it waits. Clearing the MSI-X function mask delivers the
 * vectors held back meanwhile (their PBA bits).
 */
void hdiov_cfg_write(struct hdiov_vdev *v, unsigned int off, const u8 *buf,
		     unsigned int len)
{
	bool master = v->cfg[PCI_COMMAND] & PCI_COMMAND_MASTER;
	bool masked = hdiov_cfg_msix_masked(v);
	unsigned int i;
	u8 m;

	lockdep_assert_held(&v->lock);
	for (i = 0; i < len; i++) {
		m = hdiov_cfg_wmask[off + i];
		v->cfg[off + i] = (v->cfg[off + i] & ~m) | (buf[i] & m);
	}
	/* Status bits are RW1C; this device never sets any of them. */
	hdiov_cfg_mask_bars(v);
	if (master && !(v->cfg[PCI_COMMAND] & PCI_COMMAND_MASTER)) {
		/* Stopped until Bus Master is set again (never set: DMA allowed). */
		v->dma_stopped = true;
		hdiov_engine_stop(v, -1);
	} else if (!master && (v->cfg[PCI_COMMAND] & PCI_COMMAND_MASTER) &&
		   v->dma_stopped) {
		v->dma_stopped = false;
		for (i = 0; i < v->nr_qps; i++)
			hdiov_engine_kick(v, i);
	}
	/* Re-read: hdiov_engine_stop() let others in. */
	if (masked && !hdiov_cfg_msix_masked(v))
		hdiov_irq_deliver_pending(v);
}
