_base_ = ['td-hm_res50_8xb64-210e_coco-aic-256x192.py']  # short name for the full recipe
