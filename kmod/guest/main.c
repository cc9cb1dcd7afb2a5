// SPDX-License-Identifier: GPL-2.0
/*
 * HD-IOV guest driver: probe, checks, interrupts, teardown.
 *
 * A VDEV (docs/hdiov-device.md) appears in a VM as a PCI function with BAR0
 * (registers, trapped by the host), BAR2 (one doorbell page per QP, mapped
 * straight through) and MSI-X (vector 0 device events, 1 + i QP i). The
 * driver runs one QP per completion vector it gets and offers them as
 * dmaengine channels and a crc32c transform.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/log2.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "guest.h"

static unsigned int ring_size = 256;
module_param(ring_size, uint, 0444);
MODULE_PARM_DESC(ring_size, "entries per ring (power of two, 2 to the device's MAX_RING; default 256)");

static unsigned int max_channels;
module_param(max_channels, uint, 0444);
MODULE_PARM_DESC(max_channels, "queue pairs to run per device (default 0: all)");

static unsigned int qp_timeout = 30;
module_param(qp_timeout, uint, 0444);
MODULE_PARM_DESC(qp_timeout, "seconds a QP may hold work without completing any before it is stopped and its work fails (default 30, 0: never)");

#define HDG_WATCH_PERIOD	HZ

static void hdg_watchdog(struct work_struct *work)
{
	struct hdg_dev *hd = container_of(to_delayed_work(work), struct hdg_dev,
					  watchdog);
	unsigned int i;

	for (i = 0; i < hd->nr_used; i++) {
		struct hdg_qp *qp = &hd->qps[i];

		if (!qp_timeout || !hdg_qp_watch(qp, qp_timeout))
			continue;
		dev_err(&hd->pdev->dev,
			"QP %u: no completion for %u s (QP_STATUS %#x, SQ_HEAD %u, CQ_TAIL %u); stopping it, its work fails\n",
			i, qp_timeout,
			hdg_rd(hd, hdg_qp_reg(i, HDIOV_QP_STATUS)),
			hdg_rd(hd, hdg_qp_reg(i, HDIOV_QP_SQ_HEAD)),
			hdg_rd(hd, hdg_qp_reg(i, HDIOV_QP_CQ_TAIL)));
		hdg_qp_stop(qp);
	}
	schedule_delayed_work(&hd->watchdog, HDG_WATCH_PERIOD);
}

static irqreturn_t hdg_dev_irq(int irq, void *data)
{
	struct hdg_dev *hd = data;
	u32 status = hdg_rd(hd, HDIOV_REG_DEV_STATUS);

	if (status == ~0U || (status & HDIOV_DEV_STATUS_FATAL))
		dev_err_ratelimited(&hd->pdev->dev, "device error: DEV_STATUS %#x\n",
				    status);
	return IRQ_HANDLED;
}

/* Check that this is a device of the contract this driver was built for. */
static int hdg_check(struct hdg_dev *hd)
{
	struct device *dev = &hd->pdev->dev;
	u32 id = hdg_rd(hd, HDIOV_REG_ID);
	u32 version = hdg_rd(hd, HDIOV_REG_VERSION);
	u32 need = HDIOV_CAPS_COPY;

	hd->caps = hdg_rd(hd, HDIOV_REG_CAPS);
	hd->nr_qps = hdg_rd(hd, HDIOV_REG_NUM_QPS);
	hd->max_ring = hdg_rd(hd, HDIOV_REG_MAX_RING);
	hd->max_xfer = hdg_rd(hd, HDIOV_REG_MAX_XFER);
	if (id != HDIOV_ID_VALUE) {
		dev_err(dev, "not an HD-IOV device: ID %#010x, expected %#010x\n",
			id, HDIOV_ID_VALUE);
		return -ENODEV;
	}
	if (version >> 16 != HDIOV_CONTRACT_MAJOR) {
		dev_err(dev, "contract version %u.%u; this driver speaks %u.x\n",
			version >> 16, version & 0xffff, HDIOV_CONTRACT_MAJOR);
		return -ENODEV;
	}
	if ((hd->caps & need) != need) {
		dev_err(dev, "CAPS %#x lacks COPY (%#x); refusing the device\n",
			hd->caps, need);
		return -ENODEV;
	}
	if (!hd->nr_qps || hd->nr_qps > HDIOV_MAX_QPS_PER_VDEV ||
	    hd->max_ring < HDIOV_MIN_RING || !is_power_of_2(hd->max_ring) ||
	    !hd->max_xfer ||
	    pci_resource_len(hd->pdev, 0) < HDIOV_BAR0_SIZE ||
	    pci_resource_len(hd->pdev, 2) < (u64)hd->nr_qps * HDIOV_DB_PAGE) {
		dev_err(dev, "unsupported geometry: NUM_QPS %u (1-%u), MAX_RING %u, MAX_XFER %u, BAR0 %llu, BAR2 %llu bytes\n",
			hd->nr_qps, HDIOV_MAX_QPS_PER_VDEV, hd->max_ring,
			hd->max_xfer,
			(u64)pci_resource_len(hd->pdev, 0),
			(u64)pci_resource_len(hd->pdev, 2));
		return -ENODEV;
	}
	return 0;
}

void hdg_dma_free_dev(struct hdg_dev *hd)
{
	kfree(hd->qps);
	kfree(hd);
}

/* Stop QPs [0, n): no more DMA, every job completed; then free them. */
static void hdg_stop_qps(struct hdg_dev *hd, unsigned int n)
{
	struct pci_dev *pdev = hd->pdev;
	unsigned int i;

	for (i = 0; i < n; i++)
		hdg_qp_stop(&hd->qps[i]);
	for (i = 0; i < n; i++) {
		free_irq(pci_irq_vector(pdev, hd->qps[i].vector), &hd->qps[i]);
		tasklet_kill(&hd->qps[i].tasklet);
		hdg_qp_free(&hd->qps[i]);
	}
}

static int hdg_start_qps(struct hdg_dev *hd, u32 size)
{
	struct pci_dev *pdev = hd->pdev;
	unsigned int i;
	int ret;

	for (i = 0; i < hd->nr_used; i++) {
		struct hdg_qp *qp = &hd->qps[i];
		const char *name;

		ret = hdg_qp_start(hd, qp, i, size);
		if (ret)
			goto err;
		name = devm_kasprintf(&pdev->dev, GFP_KERNEL, "%s-qp%u@%s",
				      KBUILD_MODNAME, i, pci_name(pdev));
		ret = name ? request_irq(pci_irq_vector(pdev, qp->vector),
					 hdg_qp_irq, 0, name, qp) : -ENOMEM;
		if (ret) {
			hdg_qp_stop(qp);
			hdg_qp_free(qp);
			goto err;
		}
	}
	return 0;
err:
	hdg_stop_qps(hd, i);
	return ret;
}

static int hdg_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct device *dev = &pdev->dev;
	struct hdg_dev *hd;
	u32 size;
	int nvec, ret;

	hd = kzalloc(sizeof(*hd), GFP_KERNEL);
	if (!hd)
		return -ENOMEM;
	hd->pdev = pdev;
	hd->probed = ktime_get();
	INIT_LIST_HEAD(&hd->crc_node);
	INIT_DELAYED_WORK(&hd->watchdog, hdg_watchdog);

	ret = pci_enable_device(pdev);
	if (ret)
		goto err_free;
	ret = pci_request_regions(pdev, KBUILD_MODNAME);
	if (ret)
		goto err_disable;
	ret = -ENOMEM;
	hd->bar0 = pci_iomap(pdev, 0, HDIOV_BAR0_SIZE);
	if (!hd->bar0)
		goto err_regions;
	ret = hdg_check(hd);
	if (ret)
		goto err_bar0;
	ret = -ENOMEM;
	hd->bar2 = pci_iomap(pdev, 2, hd->nr_qps * HDIOV_DB_PAGE);
	if (!hd->bar2)
		goto err_bar0;
	ret = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64));
	if (ret)
		goto err_bar2;

	/* A clean device (RESET self-clears), then DMA and interrupts. */
	hdg_wr(hd, HDIOV_REG_DEV_CTRL, HDIOV_DEV_CTRL_RESET);
	pci_set_master(pdev);
	nvec = pci_alloc_irq_vectors(pdev, 2, 1 + hd->nr_qps, PCI_IRQ_MSIX);
	if (nvec < 0) {
		dev_err(dev, "needs MSI-X with at least 2 vectors (of %u): %d\n",
			1 + hd->nr_qps, nvec);
		ret = nvec;
		goto err_master;
	}
	hd->nr_used = min_t(unsigned int, hd->nr_qps, nvec - 1);
	if (max_channels)
		hd->nr_used = min(hd->nr_used, max_channels);
	hd->qps = kcalloc(hd->nr_used, sizeof(*hd->qps), GFP_KERNEL);
	ret = -ENOMEM;
	if (!hd->qps)
		goto err_vectors;
	ret = request_irq(pci_irq_vector(pdev, HDIOV_MSIX_DEV_VECTOR),
			  hdg_dev_irq, 0, KBUILD_MODNAME, hd);
	if (ret)
		goto err_qps;

	hdg_wr(hd, HDIOV_REG_DEV_CTRL, HDIOV_DEV_CTRL_ENABLE);
	size = rounddown_pow_of_two(clamp(ring_size, (u32)HDIOV_MIN_RING,
					  hd->max_ring));
	ret = hdg_start_qps(hd, size);
	if (ret)
		goto err_enable;
	ret = hdg_dma_register(hd);
	if (ret) {
		dev_err(dev, "dmaengine registration failed: %d\n", ret);
		goto err_start;
	}
	pci_set_drvdata(pdev, hd);
	schedule_delayed_work(&hd->watchdog, HDG_WATCH_PERIOD);
	/* crc32c is extra: the channels work without it. */
	hdg_crc_add(hd);
	dev_info(dev, "HD-IOV %u.%u: %u of %u queue pairs as DMA channels, ring %u, MAX_XFER %u, CAPS %#x\n",
		 HDIOV_CONTRACT_MAJOR, hdg_rd(hd, HDIOV_REG_VERSION) & 0xffff,
		 hd->nr_used, hd->nr_qps, size, hd->max_xfer, hd->caps);
	return 0;

err_start:
	hdg_stop_qps(hd, hd->nr_used);
err_enable:
	hdg_wr(hd, HDIOV_REG_DEV_CTRL, 0);
	free_irq(pci_irq_vector(pdev, HDIOV_MSIX_DEV_VECTOR), hd);
err_qps:
	kfree(hd->qps);
	hd->qps = NULL;
err_vectors:
	pci_free_irq_vectors(pdev);
err_master:
	pci_clear_master(pdev);
err_bar2:
	pci_iounmap(pdev, hd->bar2);
err_bar0:
	pci_iounmap(pdev, hd->bar0);
err_regions:
	pci_release_regions(pdev);
err_disable:
	pci_disable_device(pdev);
err_free:
	kfree(hd);
	return ret;
}

static void hdg_remove(struct pci_dev *pdev)
{
	struct hdg_dev *hd = pci_get_drvdata(pdev);

	hdg_crc_remove(hd);
	cancel_delayed_work_sync(&hd->watchdog);
	/* Every job completes (ABORTED if the device had not done it). */
	hdg_stop_qps(hd, hd->nr_used);
	hdg_crc_wait(hd);
	hdg_wr(hd, HDIOV_REG_DEV_CTRL, 0);
	free_irq(pci_irq_vector(pdev, HDIOV_MSIX_DEV_VECTOR), hd);
	pci_free_irq_vectors(pdev);
	pci_clear_master(pdev);
	pci_iounmap(pdev, hd->bar2);
	pci_iounmap(pdev, hd->bar0);
	pci_release_regions(pdev);
	pci_disable_device(pdev);
	pci_set_drvdata(pdev, NULL);
	/* Frees @hd once no client holds a channel (hdg_dma_release). */
	hdg_dma_unregister(hd);
}

static const struct pci_device_id hdg_ids[] = {
	{ PCI_DEVICE(HDIOV_PCI_VENDOR, HDIOV_PCI_DEVICE) },
	{ }
};
MODULE_DEVICE_TABLE(pci, hdg_ids);

static struct pci_driver hdg_driver = {
	.name = KBUILD_MODNAME,
	.id_table = hdg_ids,
	.probe = hdg_probe,
	.remove = hdg_remove,
};

static int __init hdg_init(void)
{
	return pci_register_driver(&hdg_driver);
}

static void __exit hdg_exit(void)
{
	pci_unregister_driver(&hdg_driver);
	hdg_crc_exit();
}

module_init(hdg_init);
module_exit(hdg_exit);

MODULE_DESCRIPTION(HDIOV_SPEC_DESCRIPTION " (guest driver)");
MODULE_VERSION(HDIOV_SPEC_MODULE_VERSION);
MODULE_LICENSE("GPL");
MODULE_INFO(hdiov_spec, HDIOV_SPEC_NAME);
MODULE_INFO(hdiov_spec_hash, HDIOV_SPEC_HASH);
