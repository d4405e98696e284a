_base_ = ['td-hm_resnext50_8xb64-210e_coco-256x192.py']  # short name for the full recipe
