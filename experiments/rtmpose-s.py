_base_ = ['rtmpose-s_8xb256-420e_coco-256x192.py']  # short name for the full recipe
