_base_ = ['td-hm_hrnet-w32_8xb64-210e_coco-256x192.py']  # short name for the full recipe
