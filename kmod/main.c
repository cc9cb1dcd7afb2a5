// SPDX-License-Identifier: GPL-2.0
/*
 * HD-IOV mediated device: module entry points.
 *
 * The module registers its mdev driver, then its parents; each parent
 * offers the spec's mdev types. Exit undoes this in reverse order; removing
 * the parents removes their VDEVs, waiting for open ones to be closed.
 */
#include <linux/module.h>

#include "hdiov.h"

static int __init hdiov_init(void)
{
	int ret;

	ret = hdiov_pin_init();
	if (ret)
		return ret;
	ret = hdiov_engines_start();
	if (ret)
		goto err_pin;
	ret = mdev_register_driver(&hdiov_mdev_driver);
	if (ret)
		goto err_engines;
	ret = hdiov_parents_create();
	if (ret)
		goto err_driver;
	return 0;

err_driver:
	mdev_unregister_driver(&hdiov_mdev_driver);
err_engines:
	hdiov_engines_stop();
err_pin:
	hdiov_pin_exit();
	return ret;
}

static void __exit hdiov_exit(void)
{
	hdiov_parents_destroy();
	mdev_unregister_driver(&hdiov_mdev_driver);
	hdiov_engines_stop();
	hdiov_pin_exit();
}

module_init(hdiov_init);
module_exit(hdiov_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION(HDIOV_SPEC_DESCRIPTION);
MODULE_VERSION(HDIOV_SPEC_MODULE_VERSION);
MODULE_INFO(hdiov_spec, HDIOV_SPEC_NAME);
MODULE_INFO(hdiov_spec_hash, HDIOV_SPEC_HASH);
MODULE_SOFTDEP("pre: vfio_iommu_type1 libcrc32c");
