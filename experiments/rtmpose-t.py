_base_ = ['rtmpose-t_8xb256-420e_coco-256x192.py']  # short name for the full recipe
