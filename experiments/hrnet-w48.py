_base_ = ['td-hm_hrnet-w48_8xb32-210e_coco-256x192.py']  # short name for the full recipe
