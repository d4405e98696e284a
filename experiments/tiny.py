_base_ = ['td-hm_res18-half_1xb32-32e_synth-128x96.py']  # short name: the demo recipe
