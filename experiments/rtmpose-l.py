_base_ = ['rtmpose-l_8xb256-420e_coco-256x192.py']  # short name for the full recipe
